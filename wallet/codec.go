package wallet

import (
	"fmt"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/internal/bin"
	"github.com/giftkit/giftkit/internal/idem"
)

// The binary forms of what this package records under idempotency keys
// (see internal/idem).

var replayable = idem.Errors{idem.ErrorKind[Error]("wallet"), idem.ErrorKind[giftcard.Error]("giftcard")}

var (
	redeemOutcomes  = idem.Outcomes[Redeemed]{Append: appendRedeemed, Read: readRedeemed, Errors: replayable}
	holdOutcomes    = idem.Outcomes[Hold]{Append: appendHold, Read: readHold, Errors: replayable}
	balanceOutcomes = idem.Outcomes[Balance]{Append: appendBalance, Read: readBalance, Errors: replayable}
)

func appendBalance(b []byte, bal Balance) []byte {
	b = bin.String(b, bal.Owner)
	b = bin.Currency(b, bal.Currency)
	b = bin.Money(b, bal.Balance)
	b = bin.Money(b, bal.Held)
	return bin.Money(b, bal.Available)
}

func readBalance(r *bin.Reader) Balance {
	return Balance{Owner: r.String(), Currency: r.Currency(), Balance: r.Money(), Held: r.Money(), Available: r.Money()}
}

func appendEntry(b []byte, e Entry) []byte {
	b = bin.String(b, e.Owner)
	b = bin.Currency(b, e.Currency)
	b = bin.Int(b, e.Seq)
	b = bin.Int(b, int64(e.Kind))
	b = bin.Money(b, e.Amount)
	b = bin.Money(b, e.Held)
	b = bin.Money(b, e.BalanceAfter)
	b = bin.Money(b, e.AvailableAfter)
	b = bin.String(b, e.Reference)
	b = bin.String(b, e.Key)
	return bin.Time(b, e.At)
}

func readEntry(r *bin.Reader) Entry {
	e := Entry{Owner: r.String(), Currency: r.Currency(), Seq: r.Int(), Kind: EntryKind(r.Int())}
	e.Amount, e.Held, e.BalanceAfter, e.AvailableAfter = r.Money(), r.Money(), r.Money(), r.Money()
	e.Reference, e.Key, e.At = r.String(), r.String(), r.Time()
	return e
}

func appendRedeemed(b []byte, red Redeemed) []byte {
	b = bin.String(b, red.CardID)
	b = bin.Money(b, red.Amount)
	b = appendBalance(b, red.Balance)
	return appendEntry(b, red.Entry)
}

func readRedeemed(r *bin.Reader) Redeemed {
	return Redeemed{CardID: r.String(), Amount: r.Money(), Balance: readBalance(r), Entry: readEntry(r)}
}

func appendHold(b []byte, h Hold) []byte {
	b = bin.String(b, h.ID)
	b = bin.Money(b, h.Amount)
	b = bin.String(b, h.Reference)
	b = bin.String(b, h.Placer)
	b = bin.Int(b, int64(len(h.Parts)))
	for _, p := range h.Parts {
		b = bin.String(b, p.LotID)
		b = bin.Money(b, p.Amount)
	}
	b = bin.Time(b, h.ExpiresAt)
	return bin.Time(b, h.CreatedAt)
}

func readHold(r *bin.Reader) Hold {
	h := Hold{ID: r.String(), Amount: r.Money(), Reference: r.String(), Placer: r.String()}
	n := r.Int()
	if n < 0 || n > 1<<20 {
		r.Fail()
		return Hold{}
	}
	for range n {
		h.Parts = append(h.Parts, HoldPart{LotID: r.String(), Amount: r.Money()})
	}
	h.ExpiresAt, h.CreatedAt = r.Time(), r.Time()
	return h
}

// AppendBinary appends the error's binary form to b, so that a recorded
// refusal replays exactly (encoding.BinaryAppender).
func (e *Error) AppendBinary(b []byte) ([]byte, error) {
	b = bin.String(b, e.Code())
	b = bin.String(b, e.Op)
	b = bin.String(b, e.Owner)
	b = bin.Currency(b, e.Currency)
	b = bin.Money(b, e.Amount)
	b = bin.Money(b, e.Available)
	b = bin.String(b, e.HoldID)
	b = bin.Int(b, int64(e.RetryAfter))
	return bin.String(b, e.Detail), nil
}

// MarshalBinary returns the error's binary form (see [Error.AppendBinary]).
func (e *Error) MarshalBinary() ([]byte, error) { return e.AppendBinary(nil) }

// UnmarshalBinary decodes the form AppendBinary writes.
func (e *Error) UnmarshalBinary(data []byte) error {
	r := bin.NewReader(data)
	code := r.String()
	e.Op, e.Owner, e.Currency = r.String(), r.String(), r.Currency()
	e.Amount, e.Available, e.HoldID = r.Money(), r.Money(), r.String()
	e.RetryAfter, e.Detail = time.Duration(r.Int()), r.String()
	if err := r.Err(); err != nil {
		return err
	}
	sentinel, err := errorCodes.Sentinel("wallet", code)
	e.Err = sentinel
	return err
}

// snapshotSize is room for the account's snapshot with IDs of the usual
// lengths, so that writing one allocates once.
func (a Account) snapshotSize() int {
	n := 48 + len(a.owner) + len(a.lots)*96
	for _, h := range a.holds {
		n += 96 + len(h.reference) + len(h.parts)*24
	}
	return n
}

// AppendSnapshot appends the account's binary form without its Head: the
// Snapshot of its activity records (see [StateFromSnapshot]).
func (a Account) AppendSnapshot(b []byte) []byte {
	b = bin.String(b, a.owner)
	b = bin.Currency(b, a.currency)
	b = bin.Int(b, a.nextSeq)
	b = bin.Time(b, a.updatedAt)
	b = bin.Int(b, int64(len(a.lots)))
	for _, l := range a.lots {
		b = bin.String(b, l.id)
		b = bin.String(b, l.source)
		b = append(b, byte(l.class))
		b = bin.Int(b, l.remaining)
		b = bin.Int(b, l.reserved)
		b = bin.Time(b, l.expiresAt)
		b = bin.Time(b, l.createdAt)
	}
	b = bin.Int(b, int64(len(a.holds)))
	for _, h := range a.holds {
		b = bin.String(b, h.id)
		b = bin.String(b, h.reference)
		b = bin.String(b, h.placer)
		b = bin.Int(b, h.amount)
		b = bin.Int(b, int64(len(h.parts)))
		for _, p := range h.parts {
			b = bin.String(b, p.lot)
			b = bin.Int(b, p.amount)
		}
		b = bin.Time(b, h.expiresAt)
		b = bin.Time(b, h.createdAt)
	}
	return b
}

// StateFromSnapshot decodes an account's activity snapshot (see
// [Account.AppendSnapshot]); its Head is zero. [RestoreAccount] checks it.
// It fails with an error wrapping giftkit.ErrInvalid for bytes that are
// not an account's snapshot.
func StateFromSnapshot(b []byte) (AccountState, error) {
	r := bin.NewReader(b)
	s := AccountState{Owner: r.String(), Currency: r.Currency(), NextSeq: r.Int(), UpdatedAt: r.Time()}
	money := func() giftkit.Money { return giftkit.FromMinor(r.Int(), s.Currency) }
	count := func() int64 {
		n := r.Int()
		if n < 0 || n > int64(len(b)) { // each item takes at least a byte
			r.Fail()
			return 0
		}
		return n
	}
	for range count() {
		l := Lot{ID: r.String(), Source: r.String()}
		var class [1]byte
		r.Bytes(class[:])
		l.Class = giftkit.ValueClass(class[0])
		l.Remaining, l.Reserved = money(), money()
		l.ExpiresAt, l.CreatedAt = r.Time(), r.Time()
		s.Lots = append(s.Lots, l)
	}
	for range count() {
		h := Hold{ID: r.String(), Reference: r.String(), Placer: r.String(), Amount: money()}
		for range count() {
			h.Parts = append(h.Parts, HoldPart{LotID: r.String(), Amount: money()})
		}
		h.ExpiresAt, h.CreatedAt = r.Time(), r.Time()
		s.Holds = append(s.Holds, h)
	}
	if err := r.Err(); err != nil {
		return AccountState{}, fmt.Errorf("wallet: snapshot: %w: %w", err, giftkit.ErrInvalid)
	}
	return s, nil
}
