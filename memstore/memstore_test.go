package memstore_test

import (
	"testing"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) giftkit.Store[*memstore.Tx] { return memstore.New() })
}
