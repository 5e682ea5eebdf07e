package activity

import (
	"errors"
	"fmt"

	"github.com/giftkit/giftkit"
)

// ErrBroken: a chain of records does not hold together: a record was
// changed, removed, reordered or added after the fact. It wraps
// giftkit.ErrConflict; a [*BreakError] says where.
var ErrBroken = fmt.Errorf("activity: broken chain: %w", giftkit.ErrConflict)

// A BreakError is the first place a chain of records does not hold.
type BreakError struct {
	Subject Subject // the card or account whose chain is broken
	Seq     int64   // the number of the first record that does not hold; the head's when records are missing at the end
	Problem string  // what is wrong, such as "digest does not match the record's contents"
}

func (e *BreakError) Error() string {
	return fmt.Sprintf("activity: %s: record %d: %s", e.Subject, e.Seq, e.Problem)
}

// Unwrap returns ErrBroken.
func (e *BreakError) Unwrap() error { return ErrBroken }

// A Verifier walks one subject's chain of records, in order of Seq, one
// page at a time if need be, and reports the first break. Its zero value is
// not usable; call [NewVerifier].
type Verifier struct {
	subject Subject
	head    Head
	broken  error
}

// NewVerifier returns a Verifier of subject's chain, from its first record.
func NewVerifier(subject Subject) *Verifier { return &Verifier{subject: subject} }

// Add checks the next record: that it is the subject's, numbered one after
// the last, linked to its digest, and that its own digest matches its
// contents. After the first break it returns that break again.
func (v *Verifier) Add(r Record) error {
	if v.broken != nil {
		return v.broken
	}
	want := v.head.Seq + 1
	switch {
	case r.Subject != v.subject:
		return v.fail(want, "the record is "+r.Subject.String()+"'s")
	case r.Seq != want:
		return v.fail(want, fmt.Sprintf("record %d is missing (found %d)", want, r.Seq))
	case r.Prev != v.head.Digest:
		return v.fail(r.Seq, "it does not link to the digest of the record before it")
	case r.Digest != r.digest():
		return v.fail(r.Seq, "its digest does not match its contents")
	}
	v.head = Head{Seq: r.Seq, Digest: r.Digest}
	return nil
}

// End checks that the chain ends at head, the subject's head as its card
// or account keeps it: records missing at the end, or a head that names
// other records, are a break.
func (v *Verifier) End(head Head) error {
	if v.broken != nil {
		return v.broken
	}
	switch {
	case head.Seq > v.head.Seq:
		return v.fail(v.head.Seq+1, fmt.Sprintf("records %d to %d are missing", v.head.Seq+1, head.Seq))
	case head.Seq < v.head.Seq:
		return v.fail(head.Seq+1, fmt.Sprintf("the %s ends at record %d: later records were added", v.subject.Kind, head.Seq))
	case head.Digest != v.head.Digest:
		return v.fail(head.Seq, "the head's digest is not the last record's")
	}
	return nil
}

// Head returns the head of the records checked so far.
func (v *Verifier) Head() Head { return v.head }

func (v *Verifier) fail(seq int64, problem string) error {
	v.broken = &BreakError{Subject: v.subject, Seq: seq, Problem: problem}
	return v.broken
}

// Verify checks that records, subject's whole chain in order, hold
// together and end at head. It returns nil or a [*BreakError] at the first
// break.
func Verify(subject Subject, records []Record, head Head) error {
	v := NewVerifier(subject)
	for _, r := range records {
		if err := v.Add(r); err != nil {
			return err
		}
	}
	return v.End(head)
}

// IsBroken reports whether err is a broken chain.
func IsBroken(err error) bool { return errors.Is(err, ErrBroken) }
