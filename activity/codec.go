package activity

import (
	"fmt"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/bin"
)

// The binary form of a record, which Seal digests and stores may keep
// whole. Times are kept as UTC instants: a store that hands a time back in
// another zone hands back the same record.

const codecVersion = 1

func (r Record) appendSealed(b []byte) []byte {
	b = append(b, codecVersion, byte(r.Subject.Kind))
	b = bin.String(b, r.Subject.ID)
	b = bin.Currency(b, r.Subject.Currency)
	b = bin.Int(b, r.Seq)
	b = append(b, byte(r.Kind), byte(r.Actor.Kind))
	b = bin.String(b, r.Actor.ID)
	b = bin.String(b, r.Reason)
	b = bin.String(b, r.Key)
	b = bin.String(b, r.Reference)
	b = bin.Time(b, r.At.UTC())
	b = bin.Money(b, r.Amount)
	b = bin.Money(b, r.Held)
	b = bin.Money(b, r.Before)
	b = bin.Money(b, r.After)
	b = bin.Blob(b, r.Snapshot)
	return append(b, r.Prev[:]...)
}

// AppendBinary appends the record's binary form to b
// (encoding.BinaryAppender): every field, the digest last. Stores may keep
// records in this form.
func (r Record) AppendBinary(b []byte) ([]byte, error) {
	return append(r.appendSealed(b), r.Digest[:]...), nil
}

// MarshalBinary returns the record's binary form (see [Record.AppendBinary]).
func (r Record) MarshalBinary() ([]byte, error) { return r.AppendBinary(nil) }

// UnmarshalBinary decodes the form AppendBinary writes. It does not check
// the digest: [Verify] does.
func (r *Record) UnmarshalBinary(data []byte) error {
	rd := bin.NewReader(data)
	var head [2]byte
	rd.Bytes(head[:])
	if head[0] != codecVersion {
		return fmt.Errorf("activity: record of version %d: %w", head[0], giftkit.ErrInvalid)
	}
	var out Record
	out.Subject = Subject{Kind: SubjectKind(head[1]), ID: rd.String(), Currency: rd.Currency()}
	out.Seq = rd.Int()
	var kinds [2]byte
	rd.Bytes(kinds[:])
	out.Kind, out.Actor.Kind = Kind(kinds[0]), giftkit.ActorKind(kinds[1])
	out.Actor.ID, out.Reason, out.Key, out.Reference = rd.String(), rd.String(), rd.String(), rd.String()
	out.At = rd.Time()
	out.Amount, out.Held, out.Before, out.After = rd.Money(), rd.Money(), rd.Money(), rd.Money()
	out.Snapshot = rd.Blob()
	rd.Bytes(out.Prev[:])
	rd.Bytes(out.Digest[:])
	if err := rd.Err(); err != nil {
		return fmt.Errorf("activity: %w: %w", err, giftkit.ErrInvalid)
	}
	if !out.At.IsZero() {
		out.At = out.At.UTC()
	}
	*r = out
	return nil
}
