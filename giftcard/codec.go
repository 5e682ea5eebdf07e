package giftcard

import (
	"fmt"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/bin"
	"github.com/giftkit/giftkit/internal/idem"
)

// The binary forms of what this package records under idempotency keys
// (see internal/idem): compact, and written without reflection, so that
// recording an outcome costs little more than copying it.

// appendCard appends a card with its head: the form of outcomes.
func appendCard(b []byte, c Card) []byte {
	b = c.AppendSnapshot(b)
	b = bin.Int(b, c.Head.Seq)
	return append(b, c.Head.Digest[:]...)
}

func readCard(r *bin.Reader) Card {
	c := readSnapshot(r)
	c.Head.Seq = r.Int()
	r.Bytes(c.Head.Digest[:])
	return c
}

// AppendSnapshot appends the card's binary form without its Head: the
// Snapshot of its activity records (see [CardFromSnapshot]).
func (c Card) AppendSnapshot(b []byte) []byte {
	b = bin.String(b, c.ID)
	b = append(b, c.Hash[:]...)
	b = bin.String(b, c.Suffix)
	b = bin.Money(b, c.Value)
	// The state's byte carries flags above it (imported, tagged), so that
	// the form of a card without them is the form it had before them.
	b = bin.Int(b, int64(c.State)|c.flags()<<8)
	b = bin.String(b, c.BatchID)
	b = bin.Time(b, c.IssuedAt)
	b = bin.Time(b, c.ActivatedAt)
	b = bin.Time(b, c.ExpiresAt)
	b = bin.String(b, c.RedeemedBy)
	b = bin.Time(b, c.RedeemedAt)
	b = bin.Time(b, c.UpdatedAt)
	b = append(b, byte(c.Class))
	b = bin.Money(b, c.ClawedBack)
	if c.Tags != "" {
		b = bin.String(b, c.Tags)
	}
	return b
}

const (
	flagImported = 1 << iota
	flagTagged
)

func (c Card) flags() int64 {
	var f int64
	if c.Imported {
		f |= flagImported
	}
	if c.Tags != "" {
		f |= flagTagged
	}
	return f
}

// CardFromSnapshot decodes a card's activity snapshot (see
// [Card.AppendSnapshot]); its Head is zero. It fails with an error
// wrapping giftkit.ErrInvalid for bytes that are not a card's snapshot.
func CardFromSnapshot(b []byte) (Card, error) {
	r := bin.NewReader(b)
	c := readSnapshot(r)
	if err := r.Err(); err != nil {
		return Card{}, fmt.Errorf("giftcard: snapshot: %w: %w", err, giftkit.ErrInvalid)
	}
	return c, nil
}

func readSnapshot(r *bin.Reader) Card {
	var c Card
	c.ID = r.String()
	r.Bytes(c.Hash[:])
	c.Suffix = r.String()
	c.Value = r.Money()
	state := r.Int()
	c.State, c.Imported = State(state&0xff), state>>8&flagImported != 0
	c.BatchID = r.String()
	c.IssuedAt, c.ActivatedAt, c.ExpiresAt = r.Time(), r.Time(), r.Time()
	c.RedeemedBy = r.String()
	c.RedeemedAt, c.UpdatedAt = r.Time(), r.Time()
	var class [1]byte
	r.Bytes(class[:])
	c.Class = giftkit.ValueClass(class[0])
	c.ClawedBack = r.Money()
	if state>>8&flagTagged != 0 {
		c.Tags = r.String()
	}
	return c
}

func appendIssued(b []byte, is Issued) []byte {
	b = bin.String(b, is.BatchID)
	b = bin.Int(b, int64(len(is.Cards)))
	for _, c := range is.Cards {
		b = appendCard(b, c.Card)
	}
	return b
}

func readIssued(r *bin.Reader) Issued {
	is := Issued{BatchID: r.String()}
	n := r.Int()
	if n < 0 || n > MaxBatch {
		r.Fail()
		return Issued{}
	}
	is.Cards = make([]IssuedCard, 0, n)
	for range n {
		is.Cards = append(is.Cards, IssuedCard{Card: readCard(r)})
	}
	return is
}

var (
	issueOutcomes = idem.Outcomes[Issued]{Append: appendIssued, Read: readIssued, Errors: replayable}
	cardOutcomes  = idem.Outcomes[Card]{Append: appendCard, Read: readCard, Errors: replayable}
)

// AppendBinary appends the error's binary form to b, so that a recorded
// refusal replays exactly (encoding.BinaryAppender). Like its JSON form, it
// holds no whole code.
func (e *Error) AppendBinary(b []byte) ([]byte, error) {
	b = bin.String(b, e.Code())
	b = bin.String(b, e.Op)
	b = bin.String(b, e.CardID)
	b = bin.String(b, e.Masked)
	b = bin.Bool(b, e.SameAccount)
	b = bin.Time(b, e.RedeemedAt)
	b = bin.Int(b, int64(e.State))
	return bin.String(b, e.Detail), nil
}

// MarshalBinary returns the error's binary form (see [Error.AppendBinary]).
func (e *Error) MarshalBinary() ([]byte, error) { return e.AppendBinary(nil) }

// UnmarshalBinary decodes the form AppendBinary writes.
func (e *Error) UnmarshalBinary(data []byte) error {
	r := bin.NewReader(data)
	code := r.String()
	e.Op, e.CardID, e.Masked = r.String(), r.String(), r.String()
	e.SameAccount, e.RedeemedAt = r.Bool(), r.Time()
	e.State, e.Detail = State(r.Int()), r.String()
	if err := r.Err(); err != nil {
		return err
	}
	sentinel, err := errorCodes.Sentinel("giftcard", code)
	e.Err = sentinel
	return err
}

// MarshalBinary returns the card's binary form, Head included
// (encoding.BinaryMarshaler).
func (c Card) MarshalBinary() ([]byte, error) { return appendCard(nil, c), nil }

// UnmarshalBinary decodes the form MarshalBinary writes.
func (c *Card) UnmarshalBinary(b []byte) error {
	r := bin.NewReader(b)
	out := readCard(r)
	if err := r.Err(); err != nil {
		return fmt.Errorf("giftcard: card: %w: %w", err, giftkit.ErrInvalid)
	}
	*c = out
	return nil
}
