package giftkit_test

import (
	"errors"
	"testing"

	"github.com/giftkit/giftkit"
)

func TestMoneyBinary(t *testing.T) {
	pts, _ := giftkit.NewCurrency("PTZ", 0)
	for _, m := range []giftkit.Money{
		giftkit.MustParseMoney("12.50", giftkit.EUR), giftkit.MustParseMoney("-0.001", giftkit.BHD),
		giftkit.FromMinor(-1<<63, giftkit.JPY), giftkit.FromMinor(1<<63-1, pts), {},
	} {
		data, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got giftkit.Money
		if err := got.UnmarshalBinary(data); err != nil || got != m {
			t.Errorf("%v: round trip = %v, %v", m, got, err)
		}
	}
	for _, bad := range [][]byte{nil, {'E', 'U', 'R', 2}, {'E', 'U', 'R', 3, 0}, {'e', 'u', 'r', 2, 0}, {'E', 'U', 'R', 2, 0, 0}} {
		var m giftkit.Money
		if err := m.UnmarshalBinary(bad); !errors.Is(err, giftkit.ErrInvalid) {
			t.Errorf("UnmarshalBinary(%q) = %v; want an ErrInvalid", bad, err)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		var buf [16]byte
		_, _ = giftkit.MustParseMoney("12.50", giftkit.EUR).AppendBinary(buf[:0])
	}); n != 0 {
		t.Errorf("AppendBinary allocates %v times", n)
	}
}
