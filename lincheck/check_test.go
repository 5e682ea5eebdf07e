package lincheck

import (
	"context"
	"testing"

	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/memstore"
)

// record runs a short faulty run on memstore and returns its history.
func record(t *testing.T, seed uint64) *History {
	t.Helper()
	ctx := context.Background()
	store := memstore.New()
	opts := Options{Seed: seed, Faults: true, Clients: 4, Ops: 150}
	w, err := Setup(ctx, store, opts)
	if err != nil {
		t.Fatal(err)
	}
	proc := processortest.New()
	h, err := Drive(ctx, store, proc, w, 0, opts)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Finish(ctx, store, proc, w, []*History{h}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return Merge(h, f)
}

// The checker must find what the system must never show: each case
// changes one outcome of a good history and expects the partition it
// belongs to to be reported.
func TestCheckerFindsTamperedOutcomes(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(c *Call, o *Outcome) bool // changes the call's outcome; false if the call does not fit
	}{
		{"balance read one cent off", func(c *Call, o *Outcome) bool {
			if c.Kind != KindBalance || o.Code != "" || o.Balance == 0 {
				return false
			}
			o.Balance++
			return true
		}},
		{"journal read with an entry missing", func(c *Call, o *Outcome) bool {
			if c.Kind != KindHistory || o.Code != "" || o.Seq == 0 {
				return false
			}
			o.Seq--
			return true
		}},
		{"a card redeemed twice", func(c *Call, o *Outcome) bool {
			if c.Kind != KindRedeem || o.Code != "giftcard.already_redeemed" || o.Same {
				return false
			}
			o.Code = ""
			return true
		}},
		{"a retry answering otherwise", func(c *Call, o *Outcome) bool {
			// The last attempt of a call whose first attempt was answered.
			first := c.Attempts[0].Out
			if !c.Kind.changes() || len(c.Attempts) < 2 || o != &c.Attempts[len(c.Attempts)-1].Out ||
				o.Code == Unknown || o.Code == Locked || first.Code == Unknown || first.Code == Locked {
				return false
			}
			o.Digest += " (changed)"
			return true
		}},
		{"a refund split as if alone", func(c *Call, o *Outcome) bool {
			if c.Kind != KindRefund || o.Code != "" || o.X == 0 || o.Y != 0 {
				return false
			}
			o.X, o.Y = o.Y, o.X
			return true
		}},
		{"a payment reported missing", func(c *Call, o *Outcome) bool {
			if c.Kind != KindGet || o.Code != "" {
				return false
			}
			o.Code = "checkout.payment_not_found"
			return true
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for seed := uint64(0); seed < 20; seed++ {
				h := record(t, seed)
				if !tamperOne(h, tc.tamper) {
					continue
				}
				rep, err := CheckHistory(h, Options{Dir: t.TempDir()}.withDefaults())
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Illegal) == 0 {
					t.Fatalf("seed %d: the tampered history passed", seed)
				}
				return
			}
			t.Fatal("no history had a call to tamper with")
		})
	}
}

// tamperOne applies tamper to the first outcome it fits.
func tamperOne(h *History, tamper func(*Call, *Outcome) bool) bool {
	for _, c := range h.Calls {
		for i := range c.Attempts {
			if tamper(c, &c.Attempts[i].Out) {
				return true
			}
		}
	}
	return false
}
