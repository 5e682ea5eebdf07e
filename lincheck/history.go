package lincheck

import (
	"encoding/json"
	"os"
	"sort"
)

// Kind names what a [Call] asked of the system.
type Kind string

// The kinds of calls the clients make.
const (
	KindRedeem  Kind = "redeem"  // wallet.Service.Redeem of an issued card
	KindTypo    Kind = "typo"    // Redeem of a code with one character changed
	KindGuess   Kind = "guess"   // Redeem of a code that was never issued, through a strict limiter
	KindBalance Kind = "balance" // wallet.Service.Balance
	KindHistory Kind = "history" // wallet.Service.History, the whole journal in one page
	KindPay     Kind = "pay"     // checkout.Service.Pay
	KindCapture Kind = "capture" // checkout.Service.Capture
	KindCancel  Kind = "cancel"  // checkout.Service.Cancel
	KindRefund  Kind = "refund"  // checkout.Service.Refund
	KindGet     Kind = "get"     // checkout.Service.Payment
	KindSweep   Kind = "sweep"   // checkout.Service.Sweep
)

// changes reports whether calls of kind k change state under an
// idempotency key, so that a retry must repeat the first outcome.
func (k Kind) changes() bool {
	switch k {
	case KindRedeem, KindPay, KindCapture, KindCancel, KindRefund:
		return true
	}
	return false
}

// A Call is one logical call of a client: its request and every attempt
// made with its idempotency key, the first at the call's start, the others
// retries after a fault or repeats of a completed call.
type Call struct {
	ID         int      `json:"id"`
	Client     int      `json:"client"` // unique across processes
	Kind       Kind     `json:"kind"`
	Owner      string   `json:"owner,omitempty"`
	Currency   string   `json:"currency,omitempty"`
	Card       string   `json:"card,omitempty"`    // redeem: the card's ID
	Payment    string   `json:"payment,omitempty"` // pay, capture, cancel, refund, get
	Key        string   `json:"key,omitempty"`
	Amount     int64    `json:"amount,omitempty"` // pay: the total; capture, refund: the amount
	Later      bool     `json:"later,omitempty"`  // pay: CaptureLater
	Skip       bool     `json:"skip,omitempty"`   // pay: SkipBalance
	Instrument string   `json:"instrument,omitempty"`
	Subjects   []string `json:"subjects,omitempty"` // guess: the limiter's subjects, namespaced by limiter
	Attempts   []Attempt
}

// An Attempt is one call of the API: when it was made and returned (in
// nanoseconds of a clock every process shares) and what it returned.
type Attempt struct {
	Start int64   `json:"start"`
	End   int64   `json:"end"`
	Fault string  `json:"fault,omitempty"` // the faults injected into it, if any fired
	Out   Outcome `json:"out"`
}

// Unknown is the Outcome code of an attempt whose effect is unknown: a
// store's error (injected or real), or an unanswered processor.
const Unknown = "unknown"

// Locked is the Outcome code of a redemption the limiter refused: the one
// outcome giftkit does not record, so a retry may have another.
const Locked = "wallet.too_many_attempts"

// An Outcome is what one attempt returned, reduced to what the models
// check. Code is "" for success, [Unknown], or the typed error's package
// and code ("giftcard.already_redeemed", "checkout.invalid_state").
type Outcome struct {
	Code      string `json:"code,omitempty"`
	Digest    string `json:"digest,omitempty"` // the whole outcome, as a retry must repeat it
	Same      bool   `json:"same,omitempty"`   // already redeemed, by the same account
	Balance   int64  `json:"balance,omitempty"`
	Held      int64  `json:"held,omitempty"`
	Available int64  `json:"available,omitempty"`
	Seq       int64  `json:"seq,omitempty"`   // redeem: the entry's sequence number; history: entries read
	Hash      uint64 `json:"hash,omitempty"`  // history: the digest of the entries read
	X         int64  `json:"x,omitempty"`     // pay: balance part; capture: captured from the balance; refund: to the balance
	Y         int64  `json:"y,omitempty"`     // pay: card part; capture: captured from the card; refund: to the card
	State     string `json:"state,omitempty"` // the payment's state as returned
	Refunds   int    `json:"refunds,omitempty"`
	Note      string `json:"note,omitempty"` // the error's text, for the report
}

// definitive reports whether an outcome says what happened.
func (o Outcome) definitive() bool { return o.Code != Unknown }

// A History is what one process recorded: its calls, and what went wrong
// that is not a question of linearizability (an error no call may return,
// a refusal that names the wrong code).
type History struct {
	Process  int      `json:"process"`
	Calls    []*Call  `json:"calls"`
	Problems []string `json:"problems,omitempty"`
}

// Merge returns the histories of several processes as one, with calls
// renumbered in order of start.
func Merge(hs ...*History) *History {
	out := &History{}
	for _, h := range hs {
		out.Calls = append(out.Calls, h.Calls...)
		out.Problems = append(out.Problems, h.Problems...)
	}
	sort.SliceStable(out.Calls, func(i, j int) bool { return out.Calls[i].Attempts[0].Start < out.Calls[j].Attempts[0].Start })
	for i, c := range out.Calls {
		c.ID = i
	}
	return out
}

// WriteFile saves h as JSON.
func (h *History) WriteFile(path string) error {
	data, err := json.MarshalIndent(h, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// ReadHistory reads a history saved by [History.WriteFile].
func ReadHistory(path string) (*History, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var h History
	return &h, json.Unmarshal(data, &h)
}
