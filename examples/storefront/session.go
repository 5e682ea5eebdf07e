package main

import (
	"container/list"
	"crypto/rand"
	"crypto/subtle"
	"maps"
	"net/http"
	"sync"
	"time"
)

// sessionCookie holds a session's ID: 256 random bits, HttpOnly (no script
// reads it), SameSite=Lax (another site's form posts arrive without it),
// Secure when the request came over TLS, and no Max-Age, so that it ends
// with the browser.
const sessionCookie = "session"

// sessionIdle is how long a session lasts without a request.
const sessionIdle = 2 * time.Hour

// maxSessions bounds the sessions kept. Every page carries forms, and so
// a CSRF token, so every visitor without a session cookie gets one, robots
// and typos in addresses included: without a bound, a script that keeps
// asking for pages without cookies would fill the memory. Beyond the
// bound, the session used least recently ends (its visitor is signed out
// and their cart emptied). A session weighs a few hundred bytes, so the
// bound costs a few MB.
const maxSessions = 10_000

// A session is what the shop remembers of one browser: who is signed in,
// the CSRF token its forms carry, the cart, and a message for the next page.
// Handlers get a copy (sessions.get) and change the original with
// sessions.update, so that two requests of one browser never share a map.
type session struct {
	id      string
	csrf    string         // the token every form carries, checked on every POST
	shopper string         // the demo shopper signed in; empty for none
	cart    map[string]int // product ID → quantity
	order   string         // the order ID of the checkout in progress; a form sent twice reuses it
	keep    bool           // the shopper chose to keep their balance for this order
	paid    string         // the order this browser paid last: its pay form sent again shows it
	flash   flash          // shown once, on the next page
	seen    time.Time      // the last request, for expiry
}

// clone returns a copy of s that shares no map with it.
func (s *session) clone() session {
	c := *s
	c.cart = maps.Clone(s.cart)
	return c
}

// A flash is a message for the next page, kept as a catalogue key and
// its arguments so that it is written in the language of the page that
// shows it: an amount (giftkit.Money) is written for the reader, anything
// else as it is. The zero flash is no message.
type flash struct {
	Key   string
	Args  []any
	Alert bool // an error, announced at once (role="alert"); else news (role="status")
}

// sessions keeps sessions in memory: a restart signs everyone out and
// empties carts, which a demo can afford. A shop that runs several
// instances keeps them in a shared store, or in a signed and encrypted
// cookie. It keeps at most max sessions, and ends those idle for longer
// than sessionIdle; both are found at the back of a list in order of use,
// so neither walks the sessions. It is safe for concurrent use.
type sessions struct {
	mu  sync.Mutex
	m   map[string]*list.Element // by ID; each element's Value is a *session
	lru *list.List               // the most recently used first
	now func() time.Time
	max int
}

// newSessions returns an empty set of sessions that keeps at most max.
func newSessions(now func() time.Time, max int) *sessions {
	return &sessions{m: map[string]*list.Element{}, lru: list.New(), now: now, max: max}
}

// get returns a copy of the session with the ID id, if it exists and has
// not been idle too long, and marks it used.
func (ss *sessions) get(id string) (session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	e, ok := ss.m[id]
	if !ok {
		return session{}, false
	}
	s := e.Value.(*session)
	now := ss.now()
	if now.Sub(s.seen) > sessionIdle {
		ss.remove(e)
		return session{}, false
	}
	s.seen = now
	ss.lru.MoveToFront(e)
	return s.clone(), true
}

// create starts a session with fresh random ID and CSRF token, carrying
// over the cart of from (a session that signs in keeps its cart, under a
// new ID, so that an ID planted before sign-in is worth nothing after it).
// It ends the sessions idle for too long, and the least recently used
// beyond max.
func (ss *sessions) create(from session) session {
	s := &session{id: rand.Text() + rand.Text(), csrf: rand.Text() + rand.Text(), cart: maps.Clone(from.cart)}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	s.seen = now
	for e := ss.lru.Back(); e != nil && now.Sub(e.Value.(*session).seen) > sessionIdle; e = ss.lru.Back() {
		ss.remove(e)
	}
	ss.m[s.id] = ss.lru.PushFront(s)
	for ss.lru.Len() > max(ss.max, 1) {
		ss.remove(ss.lru.Back())
	}
	return s.clone()
}

// remove ends the session of the list element e. ss.mu must be held.
func (ss *sessions) remove(e *list.Element) {
	delete(ss.m, e.Value.(*session).id)
	ss.lru.Remove(e)
}

// len returns the number of sessions kept.
func (ss *sessions) len() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.lru.Len()
}

// update applies change to the session with the ID id, if it still exists.
func (ss *sessions) update(id string, change func(*session)) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if e, ok := ss.m[id]; ok {
		change(e.Value.(*session))
	}
}

// drop ends the session with the ID id.
func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if e, ok := ss.m[id]; ok {
		ss.remove(e)
	}
}

// takeFlash returns the session's message and forgets it.
func (ss *sessions) takeFlash(id string) flash {
	var f flash
	ss.update(id, func(s *session) { f, s.flash = s.flash, flash{} })
	return f
}

// setFlash leaves a message for the session's next page.
func (ss *sessions) setFlash(id string, f flash) {
	ss.update(id, func(s *session) { s.flash = f })
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
