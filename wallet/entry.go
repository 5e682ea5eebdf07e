package wallet

import (
	"fmt"
	"time"

	"github.com/giftkit/giftkit"
)

// EntryKind says what an [Entry] records.
type EntryKind uint8

// The kinds of journal entries.
const (
	EntryCredit     EntryKind = iota + 1 // a redeemed card's value
	EntryHold                            // part of the balance reserved for a payment
	EntryRelease                         // a hold released, in part or whole
	EntryCapture                         // held money spent
	EntryRefund                          // money returned to the balance
	EntryExpiry                          // an expired credit leaves the balance
	EntryAdjustment                      // an operator's correction, up (+) or down (−)
	EntryClawback                        // the value of a redeemed card whose purchase was refunded taken back (−)
	EntryLoad                            // value bought onto a card or an account: a reload (+)
	EntryTransfer                        // value moved in (+) from another card, or out (−) to another card or a shopper's account
	EntryFee                             // a dormancy fee the programme allows, charged (−)
)

var kindNames = [...]string{"", "credit", "hold", "release", "capture", "refund", "expiry", "adjustment", "clawback", "load", "transfer", "fee"}

// class is the value class of a credit of kind k.
func (k EntryKind) class() giftkit.ValueClass {
	switch k {
	case EntryRefund:
		return giftkit.ClassRefund
	case EntryAdjustment:
		return giftkit.ClassAdjustment
	}
	return giftkit.ClassPurchased
}

// String returns the kind's lower-case name, such as "credit".
func (k EntryKind) String() string {
	if k != 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("EntryKind(%d)", uint8(k))
}

// MarshalText encodes the kind as its name.
func (k EntryKind) MarshalText() ([]byte, error) {
	if k == 0 || int(k) >= len(kindNames) {
		return nil, fmt.Errorf("wallet: marshal invalid %v", k)
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText decodes a kind's name.
func (k *EntryKind) UnmarshalText(text []byte) error {
	for i, name := range kindNames {
		if i > 0 && name == string(text) {
			*k = EntryKind(i)
			return nil
		}
	}
	return fmt.Errorf("wallet: unknown entry kind %q", text)
}

// An Entry is one line of an account's append-only journal.
type Entry struct {
	Owner          string           // the account's owner
	Currency       giftkit.Currency // the account's currency, that of every amount in the entry
	Seq            int64            // 1, 2, 3, ... within the account
	Kind           EntryKind        // what the entry records
	Amount         giftkit.Money    // the change to the balance: + credit, refund, load; − capture, expiry, clawback, fee; ± adjustment, transfer; 0 hold, release
	Held           giftkit.Money    // the change to the held amount: + hold; − release, capture
	BalanceAfter   giftkit.Money    // the account's balance after the change
	AvailableAfter giftkit.Money    // the available balance (balance − held) after the change
	Reference      string           // the card, hold, payment or order the entry is about; for a transfer, the owner of the account it went to, or the card it came from
	Key            string           // the idempotency key of the call that wrote it; empty for sweeps
	At             time.Time        // the time of the call that wrote it; a sweep's release or expiry may be later than the lapse
}
