package activity

import (
	"time"

	"github.com/giftkit/giftkit"
)

// Tx is what the activity log needs of a unit of work (see giftkit.Store).
// giftcard.Tx embeds it, so every store's transaction implements it.
type Tx interface {
	// AppendActivity appends sealed records (see [Seal]) to their
	// subjects' logs, in order. A record whose Seq is not the next of its
	// subject (1 for the first) is an error, which keeps two units of work
	// from both extending one chain. Records are never changed or removed.
	// It must not keep the records' Snapshot slices (copy them).
	AppendActivity(records []Record) error
	// Activity returns up to limit records that match q, after q.After,
	// in q.Order, as the store holds them.
	Activity(q Query, limit int) ([]Record, error)
}

// Order is the order in which a [Query] returns records.
type Order uint8

// The orders.
const (
	// BySubject: by subject (see [Subject.Compare]), then Seq. Each
	// subject's records come together and in order: what reports and
	// Verify read.
	BySubject Order = iota
	// ByTime: by At, then subject, then Seq: the order of a support
	// desk's timeline.
	ByTime
)

// A Query selects records. Its zero value selects every record, by subject.
type Query struct {
	Subject Subject       // only this card's or account's records, if not zero
	Kind    SubjectKind   // only cards' or accounts' records, if not zero
	Actor   giftkit.Actor // only this actor's records, if not zero
	From    time.Time     // only records at or after From, if not zero
	To      time.Time     // only records before To, if not zero
	Order   Order         // the order of the results
	After   Cursor        // only records after this position in Order; zero: from the first
}

// A Cursor is a position in a [Query]'s order: that of the last record of
// the page before. Positions never move, so a page read once reads the same
// again; records appended later appear only after the cursor of their
// subject (BySubject) or at their time (ByTime).
type Cursor struct {
	At      time.Time // the record's time (ByTime only)
	Subject Subject   // the record's subject
	Seq     int64     // the record's number
}

// IsZero reports whether c is the zero Cursor: the start.
func (c Cursor) IsZero() bool { return c.At.IsZero() && c.Subject.IsZero() && c.Seq == 0 }

// CursorOf returns the position of r in order o.
func CursorOf(r Record, o Order) Cursor {
	c := Cursor{Subject: r.Subject, Seq: r.Seq}
	if o == ByTime {
		c.At = r.At
	}
	return c
}

// Matches reports whether r is one of the records q selects, regardless of
// q.After. Stores that filter in memory use it.
func (q Query) Matches(r Record) bool {
	switch {
	case !q.Subject.IsZero() && r.Subject != q.Subject:
		return false
	case q.Kind != 0 && r.Subject.Kind != q.Kind:
		return false
	case !q.Actor.IsZero() && r.Actor != q.Actor:
		return false
	case !q.From.IsZero() && r.At.Before(q.From):
		return false
	case !q.To.IsZero() && !r.At.Before(q.To):
		return false
	}
	return true
}

// Less reports whether record position a comes before b in order o.
func (o Order) Less(a, b Cursor) bool {
	if o == ByTime && !a.At.Equal(b.At) {
		return a.At.Before(b.At)
	}
	if c := a.Subject.Compare(b.Subject); c != 0 {
		return c < 0
	}
	return a.Seq < b.Seq
}

// Follows reports whether r comes after q.After in q.Order.
func (q Query) Follows(r Record) bool {
	return q.After.IsZero() || q.Order.Less(q.After, CursorOf(r, q.Order))
}
