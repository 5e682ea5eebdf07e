package memstore

import (
	"slices"
	"time"

	"github.com/giftkit/giftkit/egift"
)

var _ egift.Tx = (*Tx)(nil)

// Delivery implements egift.Tx.
func (tx *Tx) Delivery(id string) (egift.Delivery, bool, error) {
	if err := tx.usable(); err != nil {
		return egift.Delivery{}, false, err
	}
	if d, ok := tx.w.deliveries.get(id); ok {
		return d.Clone(), true, nil
	}
	d, ok := tx.s.deliveries[id]
	if !ok {
		return egift.Delivery{}, false, nil
	}
	return d.Clone(), true, nil
}

// PutDelivery implements egift.Tx.
func (tx *Tx) PutDelivery(d egift.Delivery) error {
	if err := tx.usable(); err != nil {
		return err
	}
	tx.w.deliveries.put(d.ID, d.Clone())
	return nil
}

// DueDeliveries implements egift.Tx. It looks at every delivery (an
// embedded store's deliveries are few).
func (tx *Tx) DueDeliveries(now time.Time, limit int) ([]egift.Delivery, error) {
	if err := tx.usable(); err != nil {
		return nil, err
	}
	var out []egift.Delivery
	add := func(d egift.Delivery) {
		if (d.State == egift.StateScheduled || d.State == egift.StateSending) && !d.SendAt.After(now) {
			out = append(out, d.Clone())
		}
	}
	for id, d := range tx.s.deliveries {
		if _, mine := tx.w.deliveries.get(id); !mine {
			add(d)
		}
	}
	for _, d := range tx.w.deliveries.vals {
		add(d)
	}
	slices.SortFunc(out, func(a, b egift.Delivery) int {
		if c := a.SendAt.Compare(b.SendAt); c != 0 {
			return c
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out[:min(len(out), max(limit, 0))], nil
}
