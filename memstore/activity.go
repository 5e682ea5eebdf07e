package memstore

import (
	"fmt"
	"slices"
	"sort"

	"github.com/giftkit/giftkit/activity"
)

// The activity log: every record in commit order, each subject's records
// found by a chain of positions from its last, and two indexes of positions in the orders
// queries read (activity.BySubject, activity.ByTime), brought up to date
// when a query finds records they do not cover yet.
type activityLog struct {
	// chunks hold the records, chunkLen to a chunk, so that the log grows
	// without copying what it holds: record i is chunks[i/chunkLen][i%chunkLen].
	chunks [][]activity.Record
	n      int        // how many records
	prev   []int32    // prev[i]: the position of the record before record i of its subject; -1 for none
	last   lastIndex  // the position of each subject's last record
	sorted [2][]int32 // positions in each activity.Order
}

const chunkLen = 1024

// at returns the record at position i.
func (l *activityLog) at(i int32) *activity.Record { return &l.chunks[i/chunkLen][i%chunkLen] }

// add appends r and returns its position.
func (l *activityLog) add(r activity.Record) int32 {
	if l.n%chunkLen == 0 {
		l.chunks = append(l.chunks, make([]activity.Record, 0, chunkLen))
	}
	c := &l.chunks[len(l.chunks)-1]
	*c = append(*c, r)
	l.n++
	return int32(l.n - 1)
}

// lastIndex maps each subject to the position of its last record. Cards,
// by far the most subjects, are keyed by their ID alone (a card's subject
// has no currency; any other subject is keyed whole): a string key takes
// the map's fast path, where a struct holding a string is hashed field by
// field.
type lastIndex struct {
	cards  map[string]int32
	others map[activity.Subject]int32
}

func isCard(s activity.Subject) bool { return s == activity.Card(s.ID) }

func (x *lastIndex) get(s activity.Subject) (int32, bool) {
	if isCard(s) {
		p, ok := x.cards[s.ID]
		return p, ok
	}
	p, ok := x.others[s]
	return p, ok
}

func (x *lastIndex) set(s activity.Subject, p int32) {
	if x.cards == nil {
		x.cards, x.others = make(map[string]int32), make(map[activity.Subject]int32)
	}
	if isCard(s) {
		x.cards[s.ID] = p
	} else {
		x.others[s] = p
	}
}

// chain returns the positions of subject s's records, in order of Seq.
func (l *activityLog) chain(s activity.Subject) []int32 {
	p, ok := l.last.get(s)
	if !ok {
		return nil
	}
	pos := make([]int32, l.at(p).Seq)
	for i := len(pos) - 1; i >= 0; i-- {
		pos[i], p = p, l.prev[p]
	}
	return pos
}

// compare compares the records at two positions in order o.
func (l *activityLog) compare(o activity.Order) func(a, b int32) int {
	return func(a, b int32) int {
		ca, cb := activity.CursorOf(*l.at(a), o), activity.CursorOf(*l.at(b), o)
		switch {
		case o.Less(ca, cb):
			return -1
		case o.Less(cb, ca):
			return 1
		}
		return 0
	}
}

// index returns the positions of every record in order o.
func (l *activityLog) index(o activity.Order) []int32 {
	idx := l.sorted[o]
	if len(idx) == l.n {
		return idx
	}
	fresh := make([]int32, 0, l.n-len(idx))
	for i := len(idx); i < l.n; i++ {
		fresh = append(fresh, int32(i))
	}
	less := l.compare(o)
	slices.SortFunc(fresh, less)
	merged := make([]int32, 0, l.n)
	i, j := 0, 0
	for i < len(idx) && j < len(fresh) {
		if less(fresh[j], idx[i]) < 0 {
			merged, j = append(merged, fresh[j]), j+1
		} else {
			merged, i = append(merged, idx[i]), i+1
		}
	}
	merged = append(append(merged, idx[i:]...), fresh[j:]...)
	l.sorted[o] = merged
	return merged
}

// query returns up to limit committed records that q selects, after q.After.
func (l *activityLog) query(q activity.Query, limit int) []activity.Record {
	var pos []int32
	if q.Subject.IsZero() {
		pos = l.index(q.Order)
	} else {
		pos = l.chain(q.Subject) // in order of Seq: BySubject
		if q.Order == activity.ByTime {
			slices.SortStableFunc(pos, l.compare(q.Order)) // a clock set back may have dated a later record earlier
		}
	}
	start := sort.Search(len(pos), func(i int) bool { return q.Follows(*l.at(pos[i])) })
	var out []activity.Record
	for _, p := range pos[start:] {
		if len(out) == limit {
			break
		}
		if r := l.at(p); q.Matches(*r) {
			out = append(out, *r)
		}
	}
	return out
}

func (s *Store) commitActivity(pending []activity.Record, prevs []int32) {
	l := &s.activity
	for i, r := range pending {
		prev := prevs[i]
		if prev == prevInUnit {
			prev, _ = l.last.get(r.Subject) // committed a moment ago, in this loop
		}
		l.last.set(r.Subject, l.add(r))
		l.prev = append(l.prev, prev)
	}
}

// prevInUnit marks a pending record whose subject's previous record is an
// earlier one of the same unit, whose position is known only at commit.
const prevInUnit = -2

// lastOf returns the position and Seq of subject s's last committed record,
// or -1 and 0.
func (l *activityLog) lastOf(s activity.Subject) (int32, int64) {
	if p, ok := l.last.get(s); ok {
		return p, l.at(p).Seq
	}
	return -1, 0
}

// AppendActivity implements activity.Tx. It fails with [ErrConflict] if a
// record is not the next of its subject.
func (tx *Tx) AppendActivity(records []activity.Record) error {
	if err := tx.usable(); err != nil {
		return err
	}
	prevs := tx.w.activityPrev
	for i, r := range records { // check them all before writing any
		next, ok := tx.w.lastSeq.get(r.Subject)
		prev := int32(prevInUnit)
		if !ok { // the subject's first record in the unit: its previous, if any, is committed
			prev, next = tx.s.activity.lastOf(r.Subject)
		}
		prevs = append(prevs, prev) // kept only if every record passes
		if r.Seq != next+1 {
			tx.w.lastSeq.reset() // forget the checks: only what was appended counts
			for _, done := range tx.w.activity {
				tx.w.lastSeq.put(done.Subject, done.Seq)
			}
			return fmt.Errorf("%w: activity record %d of %s out of sequence (next is %d)", ErrConflict, r.Seq, r.Subject, next+1)
		}
		if len(records) > 1 {
			if i == 0 {
				tx.w.lastSeq.grow(len(records))
			}
			tx.w.lastSeq.put(r.Subject, r.Seq) // so that the next of the same subject is checked against it
		}
	}
	if len(records) == 1 { // more were put as they were checked
		tx.w.lastSeq.put(records[0].Subject, records[0].Seq)
	}
	tx.w.activityPrev = prevs // where each record's subject's previous record is, for commit
	for _, r := range records {
		r.Snapshot = tx.s.keep(r.Snapshot)
		tx.w.activity = append(tx.w.activity, r)
		tx.w.events = append(tx.w.events, pendingEvent{rec: int32(len(tx.w.activity) - 1)}) // its event, built when read
	}
	return nil
}

// Activity implements activity.Tx. The unit's own records are found along
// with the committed ones.
func (tx *Tx) Activity(q activity.Query, limit int) ([]activity.Record, error) {
	if err := tx.usable(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	out := tx.s.activity.query(q, limit)
	added := false
	for _, r := range tx.w.activity {
		if q.Matches(r) && q.Follows(r) {
			out, added = append(out, r), true
		}
	}
	if added {
		slices.SortStableFunc(out, func(a, b activity.Record) int {
			ca, cb := activity.CursorOf(a, q.Order), activity.CursorOf(b, q.Order)
			switch {
			case q.Order.Less(ca, cb):
				return -1
			case q.Order.Less(cb, ca):
				return 1
			}
			return 0
		})
		out = out[:min(len(out), limit)]
	}
	return out, nil
}
