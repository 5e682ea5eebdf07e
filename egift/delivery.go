package egift

import (
	"fmt"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
)

// State is where a [Delivery] is.
//
//	scheduled ──Deliver──▶ sending ──Sender ok──▶ sent
//	    ▲  ▲                  │  └──Sender failed, attempts left──▶ scheduled (later)
//	    │  │                  └──Sender failed, last attempt──▶ failed
//	    │  └──lease lapsed (the process died): due again
//	    └──Reschedule── failed
//	scheduled, failed ──Cancel──▶ cancelled
//
// Scheduled, sending and failed deliveries keep the sealed code; sent and
// cancelled ones have erased it. A sending delivery is out with a Sender
// until its lease (SendAt) lapses: Cancel and Reschedule refuse it until
// then ([ErrSending]), since the code may already be with its recipient.
type State uint8

// The states of a delivery.
const (
	StateScheduled State = iota + 1 // waiting for its time, or for a retry
	StateSent                       // handed to the Sender; the code is erased
	StateFailed                     // every attempt failed; the sealed code is kept for Reschedule or Cancel
	StateCancelled                  // cancelled before it was sent; the code is erased
	StateSending                    // with a Sender, under a lease that ends at SendAt
)

var stateNames = [...]string{"", "scheduled", "sent", "failed", "cancelled", "sending"}

// String returns the state's name, such as "sent".
func (s State) String() string {
	if s > 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// MarshalText encodes the state as its name.
func (s State) MarshalText() ([]byte, error) {
	if s == 0 || int(s) >= len(stateNames) {
		return nil, fmt.Errorf("egift: marshal invalid %v", s)
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText decodes a state's name.
func (s *State) UnmarshalText(text []byte) error {
	for i, name := range stateNames {
		if i > 0 && name == string(text) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("egift: unknown delivery state %q: %w", text, giftkit.ErrInvalid)
}

// A Delivery is an e-gift card on its way to its recipient: the card, who
// it is for, the sender's message, when to send it, and, until it is sent,
// its code sealed under the host's key (see [Keyring]). Stores keep it as
// given; only this package reads Sealed.
type Delivery struct {
	ID        string    `json:"id"`                // "dlv_" and the random part of the card's ID
	CardID    string    `json:"card_id"`           // the card sent
	Recipient string    `json:"recipient"`         // the recipient's address, as the host's Sender reads it (an email address)
	From      string    `json:"from,omitempty"`    // the sender's name, as the recipient sees it
	Message   string    `json:"message,omitempty"` // the sender's message, line breaks allowed
	SendAt    time.Time `json:"send_at"`           // when to send it (at once if at or before the time it was made); while sending, when the lease lapses
	State     State     `json:"state"`             // where the delivery is
	// Sealed is the card's code under AES-256-GCM, with the key's ID
	// before it; empty once the delivery is sent or cancelled (a store
	// may refuse a sent or cancelled delivery that keeps one). Never the
	// code in the clear.
	Sealed    []byte    `json:"sealed,omitempty"`
	Attempts  int       `json:"attempts"`             // failed attempts so far
	LastError string    `json:"last_error,omitempty"` // the Sender's last error, if an attempt failed
	CreatedAt time.Time `json:"created_at"`           // when Send made it
	UpdatedAt time.Time `json:"updated_at"`           // its last change
	SentAt    time.Time `json:"sent_at,omitzero"`     // when it was handed to the Sender; zero until sent
}

// Clone returns a copy of d that shares no memory with it.
func (d Delivery) Clone() Delivery {
	d.Sealed = append([]byte(nil), d.Sealed...)
	if len(d.Sealed) == 0 {
		d.Sealed = nil
	}
	return d
}

// Tx is what this package needs of a unit of work (see giftkit.Store): a
// card's, since a delivery is made with its card, and the deliveries'.
// Values go in and come out as copies.
type Tx interface {
	giftcard.Tx
	// Delivery returns the delivery with the given ID; false if none.
	Delivery(id string) (Delivery, bool, error)
	// PutDelivery inserts or replaces the delivery with d.ID.
	PutDelivery(d Delivery) error
	// DueDeliveries returns up to limit deliveries whose SendAt is at or
	// before now and whose state is scheduled or sending (a lapsed
	// lease), in order of SendAt, then ID. It need not lock them: Deliver
	// reads each again, through Delivery, before it acts.
	DueDeliveries(now time.Time, limit int) ([]Delivery, error)
}
