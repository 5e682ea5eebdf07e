package main

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/wallet"
)

// An instrument is a bank card the shopper can pay with: a token of the
// fake processor (checkout/processortest), which declines "tok_declined"
// and approves any other. A real shop gets a token from its processor's
// payment form.
type instrument struct {
	Token string
	Label string // a catalogue key
}

var instruments = []instrument{{"tok_visa", "card.visa"}, {processortest.DeclinedInstrument, "card.declined"}}

// instrumentLabel returns the catalogue key of the label of the bank card
// whose token is token.
func instrumentLabel(token string) string {
	for _, in := range instruments {
		if in.Token == token {
			return in.Label
		}
	}
	return "card.other"
}

// payTimeout bounds a payment's call into the library, processor calls
// included.
const payTimeout = 30 * time.Second

// checkoutView is the data of the checkout page.
type checkoutView struct {
	Lines       []cartLine // nil for an open order found at start, whose cart is not known
	Total       giftkit.Money
	Available   giftkit.Money  // the shopper's balance
	Split       checkout.Split // what the balance and the bank card would pay
	Left        giftkit.Money  // the balance after the order
	Keep        bool           // the shopper opted out of using the balance
	Order       string
	Instruments []instrument
	// Open is set for an order whose payment started and has not
	// finished (the processor did not answer): the page shows the split
	// and the bank card it started with, which are the payment's, and
	// offers to try again or, while nothing is captured, to cancel.
	Open       bool
	Card       string // for Open: the catalogue key of the bank card's label
	Cancelable bool   // for Open: the payment can still be cancelled
}

// checkoutPage shows the order with the balance applied to it
// automatically (checkout.Plan: the balance pays what it can, the bank
// card the rest), the choice to keep the balance instead, and the bank
// card's part. While one of the shopper's orders has a payment that has
// not finished, it shows that order instead, as its payment stands, to
// finish or cancel it (see ordersFirst).
func (s *server) checkoutPage(w http.ResponseWriter, r *http.Request, sess session) {
	open, ended, err := s.reconcile(r.Context(), &sess)
	if err != nil {
		s.failed(w, r, sess, err)
		return
	}
	if s.tellEnded(w, r, sess, ended) {
		return
	}
	if open.ID != "" {
		o, _ := s.orders.get(open.ID)
		s.render(w, r, sess, http.StatusOK, "checkout", checkoutView{
			Lines: o.Lines, Total: open.Total, Order: open.ID,
			Split: checkout.Split{Balance: open.Balance.Planned, Card: open.Card.Planned},
			Open:  true, Card: instrumentLabel(open.Instrument),
			Cancelable: open.State == checkout.StatePending || open.State == checkout.StateAuthorized,
		})
		return
	}
	lines, total, err := cartLines(sess.cart)
	if err != nil {
		s.failed(w, r, sess, err)
		return
	}
	if len(lines) == 0 {
		http.Redirect(w, r, "/cart", http.StatusSeeOther)
		return
	}
	b, split, err := s.plan(r.Context(), sess, total)
	if err != nil {
		s.failed(w, r, sess, err)
		return
	}
	left, err := b.Available.Sub(split.Balance)
	if err != nil {
		s.failed(w, r, sess, err)
		return
	}
	order := sess.order
	if order == "" {
		order = newOrderID()
		s.sessions.update(sess.id, func(n *session) { n.order = order })
	}
	s.render(w, r, sess, http.StatusOK, "checkout", checkoutView{
		Lines: lines, Total: total, Available: b.Available, Split: split, Left: left,
		Keep: sess.keep, Order: order, Instruments: instruments,
	})
}

// newOrderID returns a new order ID, such as "SF-7KQ2M9XA4TBC": random, so
// that no two orders share a payment, and short enough to read out.
func newOrderID() string { return "SF-" + rand.Text()[:12] }

// chooseBalance records whether the shopper uses their balance for this
// order or keeps it, which makes it a new order; while an order's payment
// has not finished, the choice waits, as the cart does.
func (s *server) chooseBalance(w http.ResponseWriter, r *http.Request, sess session) {
	if s.ordersFirst(w, r, sess) {
		return
	}
	keep := r.PostFormValue("use") == "no"
	s.sessions.update(sess.id, func(n *session) {
		if n.keep != keep {
			n.keep, n.order = keep, ""
		}
	})
	http.Redirect(w, r, "/checkout", http.StatusSeeOther)
}

// pay pays the order: the balance first (unless the shopper keeps it),
// the bank card the rest.
//
// The amounts come from the cart and the balance, never from the form.
// The form says which split its page showed (the balance's part and the
// card's): if the cart or the balance has changed since (an order paid or
// a card redeemed in another tab), the shopper is sent back to check the
// new split, and nothing is paid. The form, not the session, holds the
// split shown, so that each tab is checked against what it showed. (Pay
// plans again from the balance as it is when it holds it, so a change in
// the instant between the two plans still goes through: the confirmation
// shows the split paid.)
//
// The payment's ID is the order's, and its idempotency key is made of it:
// a form sent twice pays once, and a form sent again once the order is
// paid shows its confirmation. A payment the processor leaves unanswered
// stays open: it is the shopper's open order, which checkout shows with
// the split and the bank card it started with, and whose form resumes it
// (checkout.Service.Resume) rather than paying afresh, which with another
// card would be another request under the order's key. A payment refused
// starts a new order, so that the next try is a new payment.
func (s *server) pay(w http.ResponseWriter, r *http.Request, sess session) {
	id := r.PostFormValue("order")
	// A payment runs to its end even if the shopper closes the tab: a
	// payment abandoned between two steps waits for the sweep.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(shopperCtx(r, sess)), payTimeout)
	defer cancel()
	if id != "" && id == sess.paid {
		http.Redirect(w, r, "/orders/"+id, http.StatusSeeOther)
		return
	}
	if r.PostFormValue("resume") == "1" { // the form of an open order
		if o, ok := s.orders.get(id); !ok || o.Owner != sess.shopper {
			s.changed(w, r, sess)
			return
		}
		p, err := s.checkout.Resume(ctx, id)
		s.payOutcome(w, r, sess, p, err)
		return
	}
	if s.ordersFirst(w, r, sess) {
		return
	}
	lines, total, err := cartLines(sess.cart)
	if err != nil {
		s.failed(w, r, sess, err)
		return
	}
	if len(lines) == 0 || id == "" || id != sess.order {
		s.changed(w, r, sess) // the cart changed since this page was shown (in another tab, say)
		return
	}
	_, split, err := s.plan(ctx, sess, total)
	if err != nil {
		s.failed(w, r, sess, err)
		return
	}
	if !formShows(r, split) {
		s.changed(w, r, sess)
		return
	}
	p, err := s.checkout.Pay(ctx, checkout.PayRequest{
		PaymentID: id, Owner: sess.shopper, Total: total,
		Instrument: r.PostFormValue("instrument"), SkipBalance: sess.keep,
	}, "pay-"+id)
	if errors.Is(err, giftkit.ErrIdempotencyConflict) {
		// Another request paid this order with another request (this
		// order's form sent from two tabs, with two cards, at once): what
		// became of that payment is this request's answer too.
		p, err = s.checkout.Payment(ctx, id)
		switch {
		case errors.Is(err, checkout.ErrPaymentNotFound): // that request was refused: a new order is a new request
			s.sessions.update(sess.id, func(n *session) { n.order = "" })
			s.changed(w, r, sess)
			return
		case err == nil && charging(p.State):
			s.orders.record(order{ID: id, Owner: sess.shopper, Lines: lines, State: p.State})
			s.sessions.setFlash(sess.id, flash{Key: "pay.inprogress", Alert: true})
			http.Redirect(w, r, "/checkout", http.StatusSeeOther)
			return
		}
	}
	if p.ID != "" {
		s.orders.record(order{ID: p.ID, Owner: sess.shopper, Lines: lines, State: p.State})
		if p.Balance.Planned != split.Balance {
			s.log.Warn("the balance changed between the plan and the payment", "order", p.ID)
		}
	}
	s.payOutcome(w, r, sess, p, err)
}

// plan returns the shopper's balance and how an order of total splits
// between it and the bank card now, as the checkout page shows it and as
// Pay will charge it (the balance first, unless the shopper keeps it).
func (s *server) plan(ctx context.Context, sess session, total giftkit.Money) (wallet.Balance, checkout.Split, error) {
	b, err := s.wallet.Balance(ctx, sess.shopper, giftkit.EUR)
	if err != nil {
		return wallet.Balance{}, checkout.Split{}, err
	}
	split, err := checkout.Plan(total, b.Available, checkout.PlanOptions{SkipBalance: sess.keep})
	return b, split, err
}

// formShows reports whether the pay form says its page showed split: the
// balance's part and the bank card's.
func formShows(r *http.Request, split checkout.Split) bool {
	balance, err := giftkit.ParseMoney(r.PostFormValue("balance"), giftkit.EUR)
	if err != nil {
		return false
	}
	card, err := giftkit.ParseMoney(r.PostFormValue("card"), giftkit.EUR)
	return err == nil && balance == split.Balance && card == split.Card
}

// changed sends the shopper back to checkout to check an order that is no
// longer the one the form showed, or a split that is no longer the one
// its page showed.
func (s *server) changed(w http.ResponseWriter, r *http.Request, sess session) {
	s.sessions.setFlash(sess.id, flash{Key: "pay.changed", Alert: true})
	http.Redirect(w, r, "/checkout", http.StatusSeeOther)
}

// payOutcome answers with what became of a payment, p and err as Pay or
// Resume returned them: paid, its confirmation; otherwise checkout, with
// why it is not paid. A payment that ended unpaid, or a request refused
// before a payment was made (whose refusal the library keeps under the
// order's key), makes the next try a new order; a payment still open
// stays the shopper's open order.
func (s *server) payOutcome(w http.ResponseWriter, r *http.Request, sess session, p checkout.Payment, err error) {
	s.orders.saw(p)
	ended := p.ID != "" && !charging(p.State)
	renew := ended || p.ID == "" && !errors.Is(err, checkout.ErrProcessorUnavailable)
	f := flash{Alert: true}
	switch {
	case err == nil && p.State == checkout.StateCaptured:
		s.sessions.update(sess.id, func(n *session) {
			if n.order == p.ID {
				n.cart, n.order, n.keep = nil, "", false
			}
			n.paid = p.ID
		})
		http.Redirect(w, r, "/orders/"+p.ID, http.StatusSeeOther)
		return
	case ended && p.Failure.Kind == checkout.FailureDeclined && p.Card.Planned.IsPositive():
		f.Key, f.Args = "pay.declined", []any{p.Card.Planned}
	case ended && p.Failure.Kind == checkout.FailureDeclined:
		f.Key = "pay.declined.plain"
	case ended: // expired or cancelled: nothing charged
		f.Key, f.Args = "order.unpaid", []any{p.ID}
	case errors.Is(err, checkout.ErrProcessorUnavailable), err == nil && charging(p.State):
		f.Key = "pay.unavailable"
	case errors.Is(err, checkout.ErrInstrumentRequired):
		f.Key = "pay.instrument"
	default:
		s.failed(w, r, sess, err)
		return
	}
	if err != nil {
		s.log.Info("payment not made", "order", p.ID, "err", codefmt.Redact(err.Error()))
	}
	s.sessions.update(sess.id, func(n *session) {
		if renew && (n.order == p.ID || p.ID == "") {
			n.order = "" // the next try is a new payment
		}
		n.flash = f
	})
	http.Redirect(w, r, "/checkout", http.StatusSeeOther)
}

// cancelOrder cancels, at the shopper's request, an order whose payment
// has not finished: checkout.Service.Cancel releases the balance at once
// and voids the bank card's authorisation, now or, if the processor does
// not answer, at a later sweep; either way nothing is charged. An order
// whose payment is being captured can no longer be cancelled: checkout
// shows it as it stands.
func (s *server) cancelOrder(w http.ResponseWriter, r *http.Request, sess session) {
	id := r.PostFormValue("order")
	if o, ok := s.orders.get(id); !ok || o.Owner != sess.shopper {
		http.Redirect(w, r, "/checkout", http.StatusSeeOther)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(shopperCtx(r, sess)), payTimeout)
	defer cancel()
	p, err := s.checkout.Cancel(ctx, id, "cancel-"+id)
	switch {
	case err == nil, errors.Is(err, checkout.ErrProcessorUnavailable) && p.ID != "" && !charging(p.State):
		s.orders.saw(p)
		s.sessions.update(sess.id, func(n *session) {
			if n.order == id {
				n.order = ""
			}
			n.flash = flash{Key: "order.cancelled", Args: []any{id}}
		})
		http.Redirect(w, r, "/cart", http.StatusSeeOther)
	case errors.Is(err, checkout.ErrInvalidState):
		http.Redirect(w, r, "/checkout", http.StatusSeeOther) // being captured, or ended: checkout says which
	default:
		s.failed(w, r, sess, err)
	}
}
