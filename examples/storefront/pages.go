package main

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// maxQuantity is the most of one product a cart holds.
const maxQuantity = 9

// signInPage lists the demo shoppers.
func (s *server) signInPage(w http.ResponseWriter, r *http.Request, sess session) {
	s.render(w, r, sess, http.StatusOK, "signin", struct {
		Shoppers []demoShopper
		Next     string
	}{shoppers, localPath(r.URL.Query().Get("next"))})
}

// signIn signs the browser in as a demo shopper, under a new session ID
// and CSRF token (an ID or token learnt before sign-in is then worth
// nothing), keeping the cart, and, if the shopper was signed in already,
// their checkout. (A shopper's orders are theirs, not the session's: see
// orderBook.)
func (s *server) signIn(w http.ResponseWriter, r *http.Request, sess session) {
	id := r.PostFormValue("shopper")
	if !slices.ContainsFunc(shoppers, func(d demoShopper) bool { return d.ID == id }) {
		s.render(w, r, sess, http.StatusBadRequest, "error", errorPage{Message: "error.shopper"})
		return
	}
	next := s.sessions.create(sess)
	s.sessions.update(next.id, func(n *session) {
		n.shopper = id
		if sess.shopper == id {
			n.order, n.keep, n.paid = sess.order, sess.keep, sess.paid
		}
	})
	s.sessions.drop(sess.id)
	setCookie(w, r, sessionCookie, next.id, 0)
	http.Redirect(w, r, localPath(r.PostFormValue("next")), http.StatusSeeOther)
}

// signOut ends the session and starts an empty one.
func (s *server) signOut(w http.ResponseWriter, r *http.Request, sess session) {
	s.sessions.drop(sess.id)
	next := s.sessions.create(session{})
	setCookie(w, r, sessionCookie, next.id, 0)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// switchLang keeps the reader's choice of language for a year, and goes
// back to the page they were on.
func (s *server) switchLang(w http.ResponseWriter, r *http.Request, _ session) {
	if lang := r.PostFormValue("lang"); slices.Contains(supported, lang) {
		setCookie(w, r, langCookie, lang, 365*24*3600)
	}
	http.Redirect(w, r, localPath(r.PostFormValue("back")), http.StatusSeeOther)
}

// giftCardsForm is the data of the gift-card page.
type giftCardsForm struct {
	Balance giftkit.Money
	Demo    []demoCard
	Key     string // the redemption's idempotency key: a form sent twice redeems once
	Typed   string // what the shopper typed, shown again only for a code that does not read
	Error   string // why the last try was refused
	Hint    string // the suggested code, for a code with one typo
}

// giftCards shows the redeem form, the balance and the demo's cards.
func (s *server) giftCards(w http.ResponseWriter, r *http.Request, sess session) {
	s.giftCardsPage(w, r, sess, http.StatusOK, giftCardsForm{})
}

func (s *server) giftCardsPage(w http.ResponseWriter, r *http.Request, sess session, status int, f giftCardsForm) {
	b, err := s.wallet.Balance(r.Context(), sess.shopper, giftkit.EUR)
	if err != nil {
		s.failed(w, r, sess, err)
		return
	}
	f.Balance, f.Demo, f.Key = b.Available, s.demo.list(), rand.Text()
	s.render(w, r, sess, status, "giftcards", f)
}

// redeem redeems the code typed in the form into the shopper's balance.
// On success it goes back to the gift-card page with the amount credited
// (never the code); a refusal shows the form again with the reason, and
// with what was typed only when it does not read as a code, so that the
// shopper can fix the typo.
func (s *server) redeem(w http.ResponseWriter, r *http.Request, sess session) {
	typed := r.PostFormValue("code")
	key := "redeem-" + formKey(r)
	got, err := s.wallet.Redeem(shopperCtx(r, sess), sess.shopper, typed, key)
	if err == nil {
		s.demo.redeemed(got.CardID)
		s.sessions.update(sess.id, func(n *session) {
			n.flash = flash{Key: "redeem.ok", Args: []any{got.Amount, got.Balance.Available}}
		})
		http.Redirect(w, r, "/giftcards", http.StatusSeeOther)
		return
	}
	l := s.locale(r)
	var pe *codefmt.ParseError
	if errors.As(err, &pe) {
		s.giftCardsPage(w, r, sess, http.StatusUnprocessableEntity,
			giftCardsForm{Typed: typed, Error: problem(l, pe), Hint: suggestion(pe)})
		return
	}
	msg, status := refusal(l, err)
	if msg == "" {
		s.failed(w, r, sess, err)
		return
	}
	s.giftCardsPage(w, r, sess, status, giftCardsForm{Error: msg})
}

// refusal says why a redemption was refused, in l's language, and with
// which status; "" for an error that is not a refusal.
func refusal(l locale, err error) (string, int) {
	var ce *giftcard.Error
	var we *wallet.Error
	switch {
	case errors.Is(err, giftcard.ErrAlreadyRedeemed) && errors.As(err, &ce) && ce.SameAccount:
		return l.T("redeem.again"), http.StatusConflict
	case errors.Is(err, giftcard.ErrAlreadyRedeemed):
		return l.T("redeem.used"), http.StatusConflict
	case errors.Is(err, giftcard.ErrNotRedeemable):
		return l.T("redeem.unknown"), http.StatusUnprocessableEntity
	case errors.Is(err, giftcard.ErrExpired):
		return l.T("redeem.expired"), http.StatusUnprocessableEntity
	case errors.Is(err, giftcard.ErrNoBalance):
		return l.T("redeem.empty"), http.StatusUnprocessableEntity
	case errors.Is(err, giftkit.ErrCurrencyMismatch):
		return l.T("redeem.currency"), http.StatusUnprocessableEntity
	case errors.Is(err, giftcard.ErrProgrammeLimit):
		return l.T("redeem.limit"), http.StatusUnprocessableEntity
	case errors.Is(err, wallet.ErrTooManyAttempts) && errors.As(err, &we):
		minutes := int((we.RetryAfter + time.Minute - 1) / time.Minute)
		return l.Tf("redeem.locked", max(minutes, 1)), http.StatusTooManyRequests
	}
	return "", 0
}

// formKey returns the idempotency key the form carries (made when the form
// was shown), or a new one if it carries none that looks right.
func formKey(r *http.Request) string {
	k := r.PostFormValue("key")
	if len(k) != 26 || !isBase32(k) {
		return rand.Text()
	}
	return k
}

// isBase32 reports whether s is made of rand.Text's alphabet.
func isBase32(s string) bool {
	for _, c := range []byte(s) {
		if (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// issueDemoCard issues one more demo card, for a visitor who has redeemed
// the ones shown, unless maxDemoCards are waiting to be redeemed.
func (s *server) issueDemoCard(w http.ResponseWriter, r *http.Request, sess session) {
	err := s.demo.issue(r.Context(), s.cards)
	switch {
	case errors.Is(err, errEnoughDemoCards):
		s.sessions.setFlash(sess.id, flash{Key: "demo.enough", Args: []any{maxDemoCards}, Alert: true})
	case err != nil:
		s.failed(w, r, sess, err)
		return
	default:
		s.sessions.setFlash(sess.id, flash{Key: "demo.issued"})
	}
	http.Redirect(w, r, "/giftcards", http.StatusSeeOther)
}

// A statementLine is one line of the balance's history.
type statementLine struct {
	At     time.Time
	What   string
	Amount giftkit.Money
	After  giftkit.Money
}

// balance shows the balance and a page of its history, oldest first: the
// lines after ?after (a journal sequence number; 0 for the first page).
// Holds and their releases are left out: they reserve money for a payment
// in progress and the capture that follows says what was spent.
func (s *server) balance(w http.ResponseWriter, r *http.Request, sess session) {
	after, err := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if err != nil || after < 0 {
		after = 0
	}
	ctx := r.Context()
	b, err := s.wallet.Balance(ctx, sess.shopper, giftkit.EUR)
	if err != nil {
		s.failed(w, r, sess, err)
		return
	}
	lines, next, err := s.statement(ctx, sess.shopper, after)
	if err != nil {
		s.failed(w, r, sess, err)
		return
	}
	l := s.locale(r)
	data := struct {
		Balance wallet.Balance
		Lines   []statementLine
		First   bool  // this is the first page
		Next    int64 // the next page's cursor; 0 for none
	}{Balance: b, First: after == 0, Next: next}
	for _, e := range lines {
		data.Lines = append(data.Lines, statementLine{At: e.At, What: describe(l, e), Amount: e.Amount, After: e.BalanceAfter})
	}
	s.render(w, r, sess, http.StatusOK, "balance", data)
}

// statement returns up to s.historyPage lines of owner's history after the
// sequence number after, leaving out holds and releases, and the cursor
// of the next page (0 if this is the last).
func (s *server) statement(ctx context.Context, owner string, after int64) ([]wallet.Entry, int64, error) {
	var lines []wallet.Entry
	for {
		page, err := s.wallet.History(ctx, owner, giftkit.EUR, after, wallet.DefaultPageSize)
		if err != nil {
			return nil, 0, err
		}
		for _, e := range page.Entries {
			if e.Kind == wallet.EntryHold || e.Kind == wallet.EntryRelease {
				continue
			}
			if len(lines) == s.historyPage { // one more line exists: there is a next page
				return lines, lines[len(lines)-1].Seq, nil
			}
			lines = append(lines, e)
		}
		if page.Next == 0 {
			return lines, 0, nil
		}
		after = page.Next
	}
}

// describe says what a line of the history is, without any code: a
// redeemed card is "a gift card", a payment is named by its order.
func describe(l locale, e wallet.Entry) string {
	switch e.Kind {
	case wallet.EntryCredit:
		return l.T("entry.credit")
	case wallet.EntryCapture:
		return l.Tf("entry.capture", e.Reference)
	case wallet.EntryRefund:
		return l.Tf("entry.refund", e.Reference)
	case wallet.EntryExpiry:
		return l.T("entry.expiry")
	case wallet.EntryLoad:
		return l.T("entry.load")
	case wallet.EntryTransfer:
		return l.T("entry.transfer")
	}
	return l.T("entry.other")
}

// shop lists the products.
func (s *server) shop(w http.ResponseWriter, r *http.Request, sess session) {
	s.render(w, r, sess, http.StatusOK, "shop", catalogue)
}

// A cartLine is a product in the cart, with its quantity and their price.
type cartLine struct {
	Product  product
	Quantity int
	Amount   giftkit.Money
}

// cartLines returns the cart's lines, in the catalogue's order, and their
// total (zero for an empty cart).
func cartLines(cart map[string]int) ([]cartLine, giftkit.Money, error) {
	var lines []cartLine
	total := giftkit.Zero(giftkit.EUR)
	for _, p := range catalogue {
		n := cart[p.ID]
		if n <= 0 {
			continue
		}
		amount := giftkit.FromMinor(p.Price.Minor()*int64(n), p.Price.Currency()) // n ≤ maxQuantity: no overflow
		var err error
		if total, err = total.Add(amount); err != nil {
			return nil, giftkit.Money{}, err
		}
		lines = append(lines, cartLine{p, n, amount})
	}
	return lines, total, nil
}

// cartPage shows the cart, once the shopper is told of an order of
// theirs whose payment ended since they last looked (its cart may be this
// one: paid, it is emptied).
func (s *server) cartPage(w http.ResponseWriter, r *http.Request, sess session) {
	_, ended, err := s.reconcile(r.Context(), &sess)
	if err != nil {
		s.failed(w, r, sess, err)
		return
	}
	if s.tellEnded(w, r, sess, ended) {
		return
	}
	lines, total, err := cartLines(sess.cart)
	if err != nil {
		s.failed(w, r, sess, err)
		return
	}
	s.render(w, r, sess, http.StatusOK, "cart", struct {
		Lines []cartLine
		Total giftkit.Money
	}{lines, total})
}

// addToCart puts one more of a product in the cart. A change to the cart
// starts a new order at checkout; while an order of the shopper's has a
// payment that has not finished, the cart waits (see ordersFirst).
func (s *server) addToCart(w http.ResponseWriter, r *http.Request, sess session) {
	p, ok := productByID(r.PostFormValue("product"))
	if !ok {
		s.notFound(w, r, sess)
		return
	}
	if s.ordersFirst(w, r, sess) {
		return
	}
	s.sessions.update(sess.id, func(n *session) {
		if n.cart == nil {
			n.cart = map[string]int{}
		}
		n.cart[p.ID] = min(n.cart[p.ID]+1, maxQuantity)
		n.order = ""
		n.flash = flash{Key: "cart.added", Args: []any{p.Price}}
	})
	http.Redirect(w, r, "/cart", http.StatusSeeOther)
}

// removeFromCart takes a product out of the cart, as addToCart puts one
// in.
func (s *server) removeFromCart(w http.ResponseWriter, r *http.Request, sess session) {
	if s.ordersFirst(w, r, sess) {
		return
	}
	s.sessions.update(sess.id, func(n *session) {
		delete(n.cart, r.PostFormValue("product"))
		n.order = ""
	})
	http.Redirect(w, r, "/cart", http.StatusSeeOther)
}
