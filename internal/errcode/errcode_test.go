package errcode_test

import (
	"errors"
	"testing"

	"github.com/giftkit/giftkit/internal/errcode"
)

var errBoom = errors.New("boom")

func TestRoundTrip(t *testing.T) {
	table := errcode.Table{"boom": errBoom}
	type fields struct {
		Op     string `json:"op,omitempty"`
		Amount int    `json:"amount,omitempty"`
	}
	for _, in := range []fields{{Op: "pay", Amount: 5}, {}} {
		data, err := errcode.Marshal(&in, table.Code(errBoom))
		if err != nil {
			t.Fatal(err)
		}
		var out fields
		sentinel, err := table.Unmarshal("test", data, &out)
		if err != nil || sentinel != errBoom || out != in {
			t.Errorf("round trip of %+v via %s = %+v, %v, %v", in, data, out, sentinel, err)
		}
	}
	if _, err := table.Unmarshal("test", []byte(`{"error":"nope"}`), &struct{}{}); err == nil {
		t.Error("unknown code accepted")
	}
	if table.Code(errors.New("other")) != "" {
		t.Error("Code of an unknown error is not empty")
	}
}
