package wallet

import (
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

func appendCurrency(b []byte, c giftkit.Currency) []byte {
	b, _ = c.AppendBinary(b)
	return b
}

func readCurrency(r *bin.Reader) giftkit.Currency {
	var raw [4]byte
	r.Bytes(raw[:])
	var c giftkit.Currency
	if err := c.UnmarshalBinary(raw[:]); err != nil {
		r.Fail()
	}
	return c
}

func appendBalance(b []byte, bal Balance) []byte {
	b = bin.String(b, bal.Owner)
	b = appendCurrency(b, bal.Currency)
	b = bin.Money(b, bal.Balance)
	b = bin.Money(b, bal.Held)
	return bin.Money(b, bal.Available)
}

func readBalance(r *bin.Reader) Balance {
	return Balance{Owner: r.String(), Currency: readCurrency(r), Balance: r.Money(), Held: r.Money(), Available: r.Money()}
}

func appendEntry(b []byte, e Entry) []byte {
	b = bin.String(b, e.Owner)
	b = appendCurrency(b, e.Currency)
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
	e := Entry{Owner: r.String(), Currency: readCurrency(r), Seq: r.Int(), Kind: EntryKind(r.Int())}
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
	b = appendCurrency(b, e.Currency)
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
	e.Op, e.Owner, e.Currency = r.String(), r.String(), readCurrency(r)
	e.Amount, e.Available, e.HoldID = r.Money(), r.Money(), r.String()
	e.RetryAfter, e.Detail = time.Duration(r.Int()), r.String()
	if err := r.Err(); err != nil {
		return err
	}
	sentinel, err := errorCodes.Sentinel("wallet", code)
	e.Err = sentinel
	return err
}
