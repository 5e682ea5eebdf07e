package main

import (
	"crypto/rand"
	"crypto/subtle"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/giftkit/giftkit"
)

// sessionCookie holds a session's ID: 256 random bits, HttpOnly (no script
// reads it), SameSite=Lax (another site's form posts arrive without it),
// Secure when the request came over TLS, and no Max-Age, so that it ends
// with the browser.
const sessionCookie = "session"

// sessionIdle is how long a session lasts without a request.
const sessionIdle = 2 * time.Hour

// A session is what the shop remembers of one browser: who is signed in,
// the CSRF token its forms carry, the cart, and a message for the next page.
// Handlers get a copy (sessions.get) and change the original with
// sessions.update, so that two requests of one browser never share a map.
type session struct {
	id      string
	csrf    string         // the token every form carries, checked on every POST
	shopper string         // the demo shopper signed in; empty for none
	cart    map[string]int // product ID → quantity
	order   string         // the order ID of the checkout in progress; a retried payment reuses it
	keep    bool           // the shopper chose to keep their balance for this order
	flash   flash          // shown once, on the next page
	seen    time.Time      // the last request, for expiry
}

// A flash is a message for the next page, kept as a catalogue key and
// amounts so that it is written in the language of the page that shows it.
// The zero flash is no message.
type flash struct {
	Key     string
	Amounts []giftkit.Money
	Alert   bool // an error, announced at once (role="alert"); else news (role="status")
}

// sessions keeps sessions in memory: a restart signs everyone out and
// empties carts, which a demo can afford. A shop that runs several
// instances keeps them in a shared store, or in a signed and encrypted
// cookie. It is safe for concurrent use.
type sessions struct {
	mu     sync.Mutex
	m      map[string]*session
	now    func() time.Time
	pruned time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{m: map[string]*session{}, now: now}
}

// get returns a copy of the session with the ID id, if it exists and has
// not been idle too long, and marks it used.
func (ss *sessions) get(id string) (session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	now := ss.now()
	if !ok || now.Sub(s.seen) > sessionIdle {
		delete(ss.m, id)
		return session{}, false
	}
	s.seen = now
	c := *s
	c.cart = maps.Clone(s.cart)
	return c, true
}

// create starts a session with fresh random ID and CSRF token, carrying
// over the cart of from (a session that signs in keeps its cart, under a
// new ID, so that an ID planted before sign-in is worth nothing after it).
func (ss *sessions) create(from session) session {
	s := &session{id: rand.Text() + rand.Text(), csrf: rand.Text() + rand.Text(), cart: maps.Clone(from.cart)}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	s.seen = now
	if now.Sub(ss.pruned) > time.Minute {
		ss.pruned = now
		for id, old := range ss.m {
			if now.Sub(old.seen) > sessionIdle {
				delete(ss.m, id)
			}
		}
	}
	ss.m[s.id] = s
	c := *s
	c.cart = maps.Clone(s.cart)
	return c
}

// update applies change to the session with the ID id, if it still exists.
func (ss *sessions) update(id string, change func(*session)) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s, ok := ss.m[id]; ok {
		change(s)
	}
}

// drop ends the session with the ID id.
func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, id)
}

// takeFlash returns the session's message and forgets it.
func (ss *sessions) takeFlash(id string) flash {
	var f flash
	ss.update(id, func(s *session) { f, s.flash = s.flash, flash{} })
	return f
}

// setCookie sends a cookie with the shop's flags: Path=/, HttpOnly,
// SameSite=Lax, and Secure when r came over TLS. maxAge 0 makes it last
// as long as the browser, a negative one deletes it.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	})
}

// validCSRF reports whether the request's form carries the session's token
// (compared in constant time, so that the time taken tells nothing about
// it). Fetch requests send it as the form field too.
func validCSRF(r *http.Request, s session) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}
