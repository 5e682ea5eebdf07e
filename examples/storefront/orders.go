package main

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
)

// An order is one a shopper placed at checkout: its ID, which is also its
// payment's, and the cart it was made of.
type order struct {
	ID    string
	Owner string
	Lines []cartLine     // what was ordered; nil for an order found open at start, whose cart was in a session
	State checkout.State // its payment's state, as the shop last read it
}

// maxOrdersKept is how many orders the book keeps per shopper: beyond it,
// the oldest that can no longer charge them are forgotten.
const maxOrdersKept = 50

// orderBook is the orders shoppers placed, by shopper rather than by
// session: a shopper who signs out and in, or uses two browsers, still
// sees their order whose payment did not finish, and cannot start another
// until it has. It keeps them in memory, as the sessions are; a shop keeps
// its orders in its own database, with the carts they were made of. (The
// payments themselves are in giftkit's store: a restart forgets the list,
// not an order's page, and the book is filled again at start with the
// payments left open; see recoverOpenOrders.) It is safe for concurrent
// use.
type orderBook struct {
	mu      sync.Mutex
	orders  map[string]*order   // by ID
	byOwner map[string][]*order // oldest first
}

func newOrderBook() *orderBook {
	return &orderBook{orders: map[string]*order{}, byOwner: map[string][]*order{}}
}

// charging reports whether a payment in state st may still charge the
// shopper: it is open, and not being unwound. (An unwinding payment has
// released the balance and only waits to void the card's authorisation:
// it ends unpaid.)
func charging(st checkout.State) bool {
	return st == checkout.StatePending || st == checkout.StateAuthorized || st == checkout.StateCapturing
}

// record adds o to the book, or, if the book has an order with its ID,
// sets that order's state to o's.
func (b *orderBook) record(o order) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cur, ok := b.orders[o.ID]; ok {
		cur.State = o.State
		return
	}
	b.orders[o.ID] = &o
	list := append(b.byOwner[o.Owner], &o)
	for len(list) > maxOrdersKept {
		i := slices.IndexFunc(list, func(o *order) bool { return !charging(o.State) })
		if i < 0 {
			break
		}
		delete(b.orders, list[i].ID)
		list = slices.Delete(list, i, i+1)
	}
	b.byOwner[o.Owner] = list
}

// saw records the state of payment p, if the book has its order.
func (b *orderBook) saw(p checkout.Payment) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if o, ok := b.orders[p.ID]; ok && p.State != 0 {
		o.State = p.State
	}
}

// get returns the order with the ID id.
func (b *orderBook) get(id string) (order, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.orders[id]
	if !ok {
		return order{}, false
	}
	return *o, true
}

// charging returns the IDs of owner's orders whose payment may still
// charge them, as last read, oldest first.
func (b *orderBook) charging(owner string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ids []string
	for _, o := range b.byOwner[owner] {
		if charging(o.State) {
			ids = append(ids, o.ID)
		}
	}
	return ids
}

// list returns owner's orders, newest first.
func (b *orderBook) list(owner string) []order {
	b.mu.Lock()
	defer b.mu.Unlock()
	var list []order
	for _, o := range slices.Backward(b.byOwner[owner]) {
		list = append(list, *o)
	}
	return list
}

// recoverOpenOrders puts in the book the shoppers' orders whose payment a
// previous run left open (it stopped while the processor was not
// answering, or between two steps of a payment): the sweep completes or
// unwinds them, and their shopper is shown the outcome at checkout and on
// the orders page. giftkit has no call that lists a shopper's payments
// (the orders are the shop's to keep), so this reads the store's open
// payments through checkout.Tx, as Service.Sweep does, once, at start.
func recoverOpenOrders[T checkout.Tx](ctx context.Context, store giftkit.Store[T], book *orderBook) error {
	var open []checkout.Payment
	err := store.Update(ctx, func(tx T) error {
		open = open[:0] // Update may run this more than once
		for after := ""; ; {
			page, err := tx.OpenPayments(after, checkout.DefaultSweepPage)
			if err != nil {
				return err
			}
			open = append(open, page...)
			if len(page) < checkout.DefaultSweepPage {
				return nil
			}
			after = page[len(page)-1].ID
		}
	})
	if err != nil {
		return err
	}
	for _, p := range open {
		if p.Owner != "" && charging(p.State) {
			book.record(order{ID: p.ID, Owner: p.Owner, State: p.State})
		}
	}
	return nil
}

// reconcile reads the payments of the session's shopper's orders that may
// still charge them, and records what became of them: the sweep, a
// request of another session, or a restart may have completed or unwound
// them since. It returns the oldest that may still charge them (open), and
// the first that no longer can (ended, paid or not), each the zero Payment
// if there is none; the session is brought up to date (syncOrder).
func (s *server) reconcile(ctx context.Context, sess *session) (open, ended checkout.Payment, err error) {
	if sess.shopper == "" {
		return open, ended, nil
	}
	for _, id := range s.orders.charging(sess.shopper) {
		p, err := s.checkout.Payment(ctx, id)
		if err != nil {
			return open, ended, err
		}
		s.orders.saw(p)
		switch {
		case charging(p.State):
			if open.ID == "" {
				open = p
			}
		case ended.ID == "":
			ended = p
		}
	}
	*sess = s.syncOrder(*sess)
	return open, ended, nil
}

// syncOrder brings the session's checkout up to date with its order, once
// the order's payment has ended (seen in this session or another, or by
// reconcile): paid, the cart it was made of is emptied; unpaid, the next
// checkout is a new order, of the same cart. It returns the session as
// updated.
func (s *server) syncOrder(sess session) session {
	if sess.order == "" {
		return sess
	}
	o, ok := s.orders.get(sess.order)
	if !ok || charging(o.State) {
		return sess
	}
	change := func(n *session) {
		if n.order != o.ID {
			return
		}
		n.order = ""
		if o.State == checkout.StateCaptured {
			n.cart, n.keep, n.paid = nil, false, o.ID
		}
	}
	s.sessions.update(sess.id, change)
	change(&sess)
	return sess
}

// ordersFirst answers a request that would change the cart, the choice of
// balance or start a payment while one of the shopper's orders needs them
// first, and reports whether it did. An order paid since they last looked
// (by the sweep, say) is shown with its confirmation. An order whose
// payment has not finished makes them wait: the cart it was made of, and
// the balance it holds, are the order's until its payment is finished or
// cancelled. The checkout page shows it, with the split and the bank card
// it started with, to try again (Resume) or to cancel (Cancel, which
// releases the balance at once). Cancelling it for them when the cart
// changes would be simpler, but would undo a payment the shopper may
// believe is going through; and starting a new order beside it would
// charge them for the first when the sweep completes it.
func (s *server) ordersFirst(w http.ResponseWriter, r *http.Request, sess session) bool {
	open, ended, err := s.reconcile(r.Context(), &sess)
	switch {
	case err != nil:
		s.failed(w, r, sess, err)
	case ended.State == checkout.StateCaptured:
		s.showPaid(w, r, sess, ended.ID)
	case open.ID != "":
		s.sessions.setFlash(sess.id, flash{Key: "order.open", Args: []any{open.ID}, Alert: true})
		http.Redirect(w, r, "/checkout", http.StatusSeeOther)
	default:
		return false
	}
	return true
}

// tellEnded tells the shopper what became of an order whose payment ended
// since they last looked (reconcile's ended), if there is one: paid, it
// answers with its confirmation and reports true; unpaid, it leaves a
// message for the page the request shows.
func (s *server) tellEnded(w http.ResponseWriter, r *http.Request, sess session, ended checkout.Payment) bool {
	switch {
	case ended.State == checkout.StateCaptured:
		s.showPaid(w, r, sess, ended.ID)
		return true
	case ended.ID != "":
		s.sessions.setFlash(sess.id, flash{Key: "order.unpaid", Args: []any{ended.ID}, Alert: true})
	}
	return false
}

// showPaid sends the shopper to the confirmation of an order whose payment
// went through after the checkout that started it said it had not.
func (s *server) showPaid(w http.ResponseWriter, r *http.Request, sess session, id string) {
	s.sessions.setFlash(sess.id, flash{Key: "order.completed", Args: []any{id}})
	http.Redirect(w, r, "/orders/"+id, http.StatusSeeOther)
}

// An orderLine is one line of the orders page.
type orderLine struct {
	ID    string
	Total giftkit.Money
	Paid  bool // paid; else its payment has not finished
}

// ordersPage lists the shopper's orders, newest first: those paid, and
// those whose payment has not finished, which may still charge them. An
// order that ended unpaid charged nothing, and is not listed.
func (s *server) ordersPage(w http.ResponseWriter, r *http.Request, sess session) {
	var lines []orderLine
	for _, o := range s.orders.list(sess.shopper) {
		if o.State != checkout.StateCaptured && !charging(o.State) {
			continue
		}
		p, err := s.checkout.Payment(r.Context(), o.ID)
		if err != nil {
			s.failed(w, r, sess, err)
			return
		}
		s.orders.saw(p)
		if p.State == checkout.StateCaptured || charging(p.State) {
			lines = append(lines, orderLine{ID: p.ID, Total: p.Total, Paid: p.State == checkout.StateCaptured})
		}
	}
	s.render(w, r, sess, http.StatusOK, "orders", lines)
}

// order shows an order: paid, the total and how it was split between the
// balance and the bank card; not finished, the same as planned, and the
// way back to checkout to finish or cancel it. Only the shopper who placed
// it sees it; to anyone else it does not exist, nor does an order that
// ended unpaid (declined, say).
func (s *server) order(w http.ResponseWriter, r *http.Request, sess session) {
	p, err := s.checkout.Payment(r.Context(), r.PathValue("id"))
	if errors.Is(err, checkout.ErrPaymentNotFound) || err == nil && (p.Owner != sess.shopper || p.State != checkout.StateCaptured && !charging(p.State)) {
		s.notFound(w, r, sess)
		return
	}
	if err != nil {
		s.failed(w, r, sess, err)
		return
	}
	s.orders.saw(p)
	sess = s.syncOrder(sess)
	b, err := s.wallet.Balance(r.Context(), sess.shopper, giftkit.EUR)
	if err != nil {
		s.failed(w, r, sess, err)
		return
	}
	// The balance shown is the balance now, and says so: the order's own
	// part is in the split above it, and the history has the balance
	// after each line.
	s.render(w, r, sess, http.StatusOK, "order", struct {
		Payment checkout.Payment
		Paid    bool
		Now     giftkit.Money
	}{p, p.State == checkout.StateCaptured, b.Available})
}
