package egift

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/internal/errcode"
	"github.com/giftkit/giftkit/internal/obs"
	"github.com/giftkit/giftkit/internal/text"
	"github.com/giftkit/giftkit/internal/unit"
)

// Errors of this package, each of the kind its comment names.
var (
	// ErrInvalidRequest: a recipient, sender name, message or send time
	// that is not acceptable. It wraps giftkit.ErrInvalid.
	ErrInvalidRequest = errcode.New(giftkit.ErrInvalid, "invalid e-gift request")
	// ErrNotFound: no delivery has the ID. It wraps giftkit.ErrNotFound.
	ErrNotFound = errcode.New(giftkit.ErrNotFound, "no such e-gift delivery")
	// ErrAlreadySent: the delivery was sent, so its code is erased and it
	// cannot be sent again, rescheduled or cancelled. To give the
	// recipient a new code, void the card (giftcard.Service.Void) and send
	// another. It wraps giftkit.ErrConflict.
	ErrAlreadySent = errcode.New(giftkit.ErrConflict, "e-gift delivery already sent")
	// ErrCancelled: the delivery was cancelled, and its code erased. It
	// wraps giftkit.ErrConflict.
	ErrCancelled = errcode.New(giftkit.ErrConflict, "e-gift delivery cancelled")
	// ErrSending: the delivery is with a Sender (StateSending), so its
	// code may already be with the recipient: it cannot be cancelled or
	// rescheduled until the attempt ends, or its lease lapses (SendAt). It
	// wraps giftkit.ErrConflict.
	ErrSending = errcode.New(giftkit.ErrConflict, "e-gift delivery being sent")
)

// Limits on what a [SendRequest] carries, in bytes.
const (
	MaxRecipientLen = 254  // the longest email address
	MaxFromLen      = 128  // the sender's name
	MaxMessageLen   = 2000 // the message; line breaks are allowed
)

// A Message is what a [Sender] sends: the only value in which the code is in
// the clear, in memory, for the time of one Send.
type Message struct {
	DeliveryID string        // the same for every attempt to send one delivery: dedupe by it
	CardID     string        // the card sent
	To         string        // Delivery.Recipient
	From       string        // the sender's name; may be empty
	Text       string        // the sender's message; may be empty
	Code       codefmt.Code  // the card's activation code, to print in the message
	Value      giftkit.Money // the card's value
	ExpiresAt  time.Time     // the card's expiry; zero if it has none
}

// String returns a description of m with the code masked, so that a
// Message that finds its way into a log does not leak the code.
func (m Message) String() string {
	return fmt.Sprintf("egift.Message{%s to %q, card %s, code %s, %v}", m.DeliveryID, m.To, m.CardID, m.Code.Masked(), m.Value)
}

// GoString is String, for %#v.
func (m Message) GoString() string { return m.String() }

// LogValue is String, for log/slog: a Message logged as a value shows its
// code masked.
func (m Message) LogValue() slog.Value { return slog.StringValue(m.String()) }

// MarshalJSON encodes m with its code masked, so that a Message that
// finds its way into JSON (a log, a queue) does not leak the code. Senders
// that hand the code to an email service put m.Code.String() in the email
// itself.
func (m Message) MarshalJSON() ([]byte, error) {
	type plain Message
	return json.Marshal(struct {
		plain
		Code string
	}{plain(m), m.Code.Masked()})
}

// A Sender hands a message to the recipient: an email service, typically.
// It is called outside any unit of work. Delivery is at least once: a
// process that dies after Send returns and before the delivery is marked
// sent sends it again later, with the same DeliveryID, so a Sender that
// can should pass it on as its provider's idempotency key. An error is
// retried later (see Config.MaxAttempts); its text is stored with the
// delivery, with the code masked if it appears in it. Send's context ends
// when the delivery's lease lapses (Config.Lease): a Sender must give up
// by then, since another Deliver may then send the delivery again.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Config holds what a [Service] needs from its host.
type Config struct {
	// Cards issues the cards, over the same store as the Service. Required.
	Cards *giftcard.Service
	// Keys seals the codes of deliveries not yet sent. Required.
	Keys *Keyring
	// Sender sends the messages. Required by Deliver only.
	Sender Sender
	// Now returns the current time. Required.
	Now func() time.Time
	// Rand is the source of the seals' nonces; nil means crypto/rand.
	Rand io.Reader
	// MaxAttempts is how many failed attempts make a delivery failed; 0
	// means 8.
	MaxAttempts int
	// RetryAfter is the wait after a first failed attempt, doubled after
	// each failure up to a day; 0 means one minute.
	RetryAfter time.Duration
	// Lease is how long Deliver keeps a delivery to itself while it sends
	// it, so that two Deliver loops (two processes) do not both send it; a
	// process that dies holding a lease sends nothing, and the delivery is
	// sent once the lease has lapsed. 0 means five minutes.
	Lease time.Duration
	// Logger and Observer are told of every call, as in giftcard.Config;
	// Deliver's calls report how many deliveries were sent, retried and
	// failed. No record holds a code, sealed or not.
	Logger   *slog.Logger
	Observer giftkit.Observer
}

// A Service sends e-gift cards: it issues a card and keeps its code sealed
// until the card is sent to its recipient, at once or at a time the buyer
// chose. It is safe for concurrent use.
type Service struct {
	store giftkit.Store[Tx]
	cfg   Config
	obs   obs.Hooks
}

// NewService returns a Service over store, which must be the store of
// cfg.Cards.
func NewService[T Tx](store giftkit.Store[T], cfg Config) (*Service, error) {
	if store == nil || cfg.Cards == nil || cfg.Keys == nil || cfg.Now == nil {
		return nil, errors.New("egift: NewService needs a store, a giftcard.Service, a Keyring and a clock")
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Minute
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 5 * time.Minute
	}
	return &Service{store: unit.Erase(store, func(tx T) Tx { return tx }), cfg: cfg,
		obs: obs.Hooks{Log: cfg.Logger, Obs: cfg.Observer, Now: cfg.Now}}, nil
}

// A SendRequest describes an e-gift card.
type SendRequest struct {
	Value     giftkit.Money      // the card's value; positive
	ExpiresAt time.Time          // the card's expiry; zero for none
	Class     giftkit.ValueClass // the card's value class; zero means purchased
	Recipient string             // the recipient's email address
	From      string             // the sender's name, as the recipient sees it; optional
	Message   string             // the sender's message; optional
	// SendAt is when to send the card; zero, or a time already past,
	// means at the next Deliver.
	SendAt time.Time
}

func (r SendRequest) check() error {
	at := strings.LastIndexByte(r.Recipient, '@')
	switch {
	case len(r.Recipient) < 3 || at <= 0 || at == len(r.Recipient)-1 || strings.ContainsAny(r.Recipient, " ,;<>\"") ||
		!text.Valid(r.Recipient, MaxRecipientLen):
		return fmt.Errorf("%w: recipient %q is not an email address of at most %d bytes", ErrInvalidRequest, r.Recipient, MaxRecipientLen)
	case !text.Valid(r.From, MaxFromLen):
		return fmt.Errorf("%w: sender's name is not at most %d bytes of text", ErrInvalidRequest, MaxFromLen)
	case !validMessage(r.Message):
		return fmt.Errorf("%w: message is not at most %d bytes of text (line breaks allowed)", ErrInvalidRequest, MaxMessageLen)
	}
	return nil
}

// validMessage reports whether m is at most MaxMessageLen bytes of UTF-8
// text, where line breaks are allowed.
func validMessage(m string) bool {
	if len(m) > MaxMessageLen || !utf8.ValidString(m) {
		return false
	}
	return text.Valid(strings.NewReplacer("\r\n", " ", "\n", " ").Replace(m), MaxMessageLen)
}

// IDOf returns the ID of the delivery of card cardID: "dlv_" and the
// card's ID without its "card_".
func IDOf(cardID string) string { return "dlv_" + strings.TrimPrefix(cardID, "card_") }

// Send issues one card as req describes and schedules its delivery, in one
// unit of work: the card exists if and only if its delivery does, and the
// code is kept only sealed, until it is sent. A retry with the same key
// returns the delivery first made (as it stands now); the same key with
// another request is giftkit.ErrIdempotencyConflict. The Delivery returned
// has no Sealed bytes.
//
// It fails with ErrInvalidRequest, or as giftcard.Service.Issue fails.
func (s *Service) Send(ctx context.Context, req SendRequest, key string) (_ Delivery, err error) {
	ctx, span := s.obs.Begin(ctx, "egift.send")
	defer span.End(&err)
	if err := req.check(); err != nil {
		return Delivery{}, err
	}
	now := s.cfg.Now()
	sendAt := req.SendAt
	if sendAt.IsZero() || sendAt.Before(now) {
		sendAt = now
	}
	var made Delivery
	issued, err := s.cfg.Cards.IssueWith(ctx, giftcard.IssueRequest{Value: req.Value, ExpiresAt: req.ExpiresAt, Class: req.Class}, key,
		giftcard.Addition{Name: "egift", Args: []string{req.Recipient, req.From, req.Message, req.SendAt.UTC().String()},
			Do: func(tx giftcard.Tx, issued giftcard.Issued) error {
				dt, ok := tx.(Tx)
				if !ok {
					return fmt.Errorf("egift: the store's transaction %T keeps no deliveries (egift.Tx)", tx)
				}
				ic := issued.Cards[0]
				d := Delivery{ID: IDOf(ic.Card.ID), CardID: ic.Card.ID, Recipient: req.Recipient, From: req.From, Message: req.Message,
					SendAt: sendAt, State: StateScheduled, CreatedAt: now, UpdatedAt: now}
				sealed, err := s.cfg.Keys.seal(ic.Code, d, s.cfg.Rand)
				if err != nil {
					return err
				}
				d.Sealed = sealed
				made = d
				return dt.PutDelivery(d)
			}})
	if err != nil {
		return Delivery{}, err
	}
	if !issued.Replayed {
		return public(made), nil
	}
	return s.Delivery(ctx, IDOf(issued.Cards[0].Card.ID))
}

// public returns d without its sealed code.
func public(d Delivery) Delivery {
	d.Sealed = nil
	return d
}

// Delivery returns the delivery with the given ID, without its sealed
// code, or ErrNotFound.
func (s *Service) Delivery(ctx context.Context, id string) (_ Delivery, err error) {
	ctx, span := s.obs.Begin(ctx, "egift.delivery")
	defer span.End(&err)
	var out Delivery
	err = s.store.Update(ctx, func(tx Tx) error {
		d, err := load(tx, id)
		out = d
		return err
	})
	return public(out), err
}

func load(tx Tx, id string) (Delivery, error) {
	if !text.Valid(id, 128) {
		return Delivery{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	d, ok, err := tx.Delivery(id)
	if err != nil {
		return Delivery{}, err
	}
	if !ok {
		return Delivery{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return d, nil
}

// change applies fn to the delivery id in one unit of work and stores the
// result; fn returns changed false for nothing to store.
func (s *Service) change(ctx context.Context, id string, fn func(d Delivery, now time.Time) (next Delivery, changed bool, err error)) (Delivery, error) {
	var out Delivery
	err := s.store.Update(ctx, func(tx Tx) error {
		d, err := load(tx, id)
		if err != nil {
			return err
		}
		next, changed, err := fn(d, s.cfg.Now())
		if err != nil || !changed {
			out = d
			return err
		}
		out = next
		return tx.PutDelivery(next)
	})
	return public(out), err
}

// Cancel stops a delivery that was not sent and erases its code; the card
// stays as it is (void it with giftcard.Service.Void if it should not be
// used). Cancelling a cancelled delivery returns it unchanged. It fails
// with ErrNotFound, or ErrAlreadySent.
func (s *Service) Cancel(ctx context.Context, id string) (_ Delivery, err error) {
	ctx, span := s.obs.Begin(ctx, "egift.cancel")
	defer span.End(&err)
	return s.change(ctx, id, func(d Delivery, now time.Time) (Delivery, bool, error) {
		switch {
		case d.State == StateSent:
			return d, false, fmt.Errorf("%w: %s", ErrAlreadySent, d.ID)
		case d.State == StateCancelled:
			return d, false, nil
		case d.sending(now):
			return d, false, fmt.Errorf("%w: %s, until %v", ErrSending, d.ID, d.SendAt)
		}
		d.State, d.Sealed, d.UpdatedAt = StateCancelled, nil, now
		return d, true, nil
	})
}

// Reschedule changes where and when a delivery not yet sent goes: to
// recipient if not empty, at sendAt (zero or past: at the next Deliver). A
// failed delivery is scheduled again, its attempts counted from zero. It
// fails with ErrInvalidRequest, ErrNotFound, ErrAlreadySent or
// ErrCancelled.
func (s *Service) Reschedule(ctx context.Context, id, recipient string, sendAt time.Time) (_ Delivery, err error) {
	ctx, span := s.obs.Begin(ctx, "egift.reschedule")
	defer span.End(&err)
	if recipient != "" {
		if err := (SendRequest{Recipient: recipient}).check(); err != nil {
			return Delivery{}, err
		}
	}
	return s.change(ctx, id, func(d Delivery, now time.Time) (Delivery, bool, error) {
		switch {
		case d.State == StateSent:
			return d, false, fmt.Errorf("%w: %s", ErrAlreadySent, d.ID)
		case d.State == StateCancelled:
			return d, false, fmt.Errorf("%w: %s", ErrCancelled, d.ID)
		case d.sending(now):
			return d, false, fmt.Errorf("%w: %s, until %v", ErrSending, d.ID, d.SendAt)
		}
		if recipient != "" {
			d.Recipient = recipient
		}
		if sendAt.Before(now) {
			sendAt = now
		}
		d.State, d.SendAt, d.Attempts, d.LastError, d.UpdatedAt = StateScheduled, sendAt, 0, "", now
		return d, true, nil
	})
}

// sending reports whether d is with a Sender at now: its lease has not
// lapsed.
func (d Delivery) sending(now time.Time) bool { return d.State == StateSending && d.SendAt.After(now) }

// A Report says what one call to [Service.Deliver] did.
type Report struct {
	Sent      int // handed to the Sender and marked sent
	Retrying  int // failed, or its card is blocked: scheduled again
	Failed    int // failed for the last time (StateFailed)
	Cancelled int // not sent, because its card was voided or redeemed into an account: cancelled, its code erased
}

// Deliver sends up to limit deliveries that are due, one after the other,
// and reports what it did. For each it takes a lease in one unit of work
// (StateSending until SendAt), opens the sealed code, calls the Sender
// outside any unit of work with a context that ends with the lease, then
// in another unit marks the delivery sent and erases its code, or counts
// the failure and schedules a retry (see Config). A delivery whose card
// was voided or redeemed meanwhile is cancelled instead, its code erased;
// one whose card is blocked waits (Config.RetryAfter) without an attempt
// counted. Run it from a loop or a timer; several processes may run it at
// once.
//
// It returns the store's error, or ctx's, and what it did until then.
func (s *Service) Deliver(ctx context.Context, limit int) (rep Report, err error) {
	ctx, span := s.obs.Begin(ctx, "egift.deliver")
	defer span.End(&err)
	defer func() {
		if s.obs.On() && rep != (Report{}) {
			s.obs.Notice(ctx, "egift.delivered", slog.Int("sent", rep.Sent), slog.Int("retrying", rep.Retrying), slog.Int("failed", rep.Failed))
		}
	}()
	if s.cfg.Sender == nil {
		return rep, errors.New("egift: Deliver needs a Sender (Config.Sender)")
	}
	var due []Delivery
	err = s.store.Update(ctx, func(tx Tx) (err error) {
		due, err = tx.DueDeliveries(s.cfg.Now(), limit)
		return err
	})
	if err != nil {
		return rep, err
	}
	for _, d := range due {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if err := s.deliver(ctx, d, &rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// deliver sends one due delivery.
func (s *Service) deliver(ctx context.Context, d Delivery, rep *Report) error {
	// What each unit of work decided, set afresh by each run of it (a
	// store may run a unit more than once), and counted once it commits.
	var msg Message
	var lease time.Time
	var claimed bool
	var decided State // what the claim did instead of claiming: failed, cancelled, or scheduled (blocked card)
	err := s.store.Update(ctx, func(tx Tx) error {
		claimed, decided = false, 0
		cur, err := load(tx, d.ID)
		if err != nil {
			return err
		}
		now := s.cfg.Now()
		if cur.State != StateScheduled && cur.State != StateSending || cur.SendAt.After(now) {
			return nil // another process took it, or it was changed
		}
		card, ok, err := tx.CardByID(cur.CardID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("egift: delivery %s names card %s, which does not exist", cur.ID, cur.CardID)
		}
		cur.UpdatedAt = now
		switch {
		case card.State == giftcard.StateVoided || (card.State == giftcard.StateRedeemed && !card.Opened()):
			// Its code is of no use to anyone: withdraw it. (A card
			// reloaded or moved to before it was sent is opened, not
			// spent: its code still holds value, and is sent.)
			cur.State, cur.Sealed, cur.LastError = StateCancelled, nil, "card "+card.State.String()+": not sent"
			decided = StateCancelled
			return tx.PutDelivery(cur)
		case card.State == giftcard.StateBlocked:
			// Under review: try again later, without counting an attempt.
			cur.State, cur.SendAt, cur.LastError = StateScheduled, now.Add(s.cfg.RetryAfter), "card blocked: not sent yet"
			decided = StateScheduled
			return tx.PutDelivery(cur)
		}
		code, err := s.cfg.Keys.open(cur)
		if err != nil {
			cur.State, cur.LastError = StateFailed, err.Error()
			decided = StateFailed
			return tx.PutDelivery(cur)
		}
		msg = Message{DeliveryID: cur.ID, CardID: cur.CardID, To: cur.Recipient, From: cur.From, Text: cur.Message,
			Code: code, Value: card.Value, ExpiresAt: card.ExpiresAt}
		lease = now.Add(s.cfg.Lease)
		cur.State, cur.SendAt = StateSending, lease
		claimed = true
		return tx.PutDelivery(cur)
	})
	if err != nil {
		return err
	}
	switch decided {
	case StateFailed:
		rep.Failed++
	case StateCancelled:
		rep.Cancelled++
	case StateScheduled:
		rep.Retrying++
	}
	if !claimed {
		return nil
	}
	// The Sender has until the lease lapses; after that another Deliver
	// may send the delivery again.
	sendCtx, cancel := context.WithDeadline(ctx, lease)
	sendErr := s.cfg.Sender.Send(sendCtx, msg)
	cancel()
	var outcome State // StateSent, StateFailed, or StateScheduled for a retry; zero if nothing was recorded
	err = s.store.Update(ctx, func(tx Tx) error {
		outcome = 0
		cur, err := load(tx, d.ID)
		if err != nil {
			return err
		}
		if cur.State != StateSending {
			return nil // another Deliver, after the lease lapsed, settled it
		}
		if sendErr != nil && !cur.SendAt.Equal(lease) {
			return nil // another Deliver took it after the lease lapsed: its attempt counts
		}
		now := s.cfg.Now()
		cur.UpdatedAt = now
		switch {
		case sendErr == nil: // sent, even if another Deliver took it meanwhile
			cur.State, cur.Sealed, cur.SentAt, cur.LastError = StateSent, nil, now, ""
		case cur.Attempts+1 >= s.cfg.MaxAttempts:
			cur.Attempts++
			cur.State, cur.LastError = StateFailed, scrub(sendErr.Error())
		default:
			cur.Attempts++
			cur.State, cur.SendAt, cur.LastError = StateScheduled, now.Add(s.backoff(cur.Attempts)), scrub(sendErr.Error())
		}
		outcome = cur.State
		return tx.PutDelivery(cur)
	})
	switch {
	case err != nil:
	case outcome == StateSent:
		rep.Sent++
	case outcome == StateFailed:
		rep.Failed++
	case outcome == StateScheduled:
		rep.Retrying++
	}
	return err
}

// backoff is the wait after a delivery's attempt number n (from 1) failed.
func (s *Service) backoff(n int) time.Duration {
	d := s.cfg.RetryAfter
	for i := 1; i < n && d < 24*time.Hour; i++ {
		d *= 2
	}
	return min(d, 24*time.Hour)
}

// scrub returns a Sender's error text for the delivery's record: every
// code in it masked (codefmt.Redact finds them in any case, grouping or
// glued to other text), and at most 500 bytes.
func scrub(msg string) string {
	msg = codefmt.Redact(msg)
	if len(msg) > 500 {
		msg = msg[:500]
		for !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
	}
	return msg
}
