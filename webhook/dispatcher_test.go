package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/webhook"
)

// t0 is the tests' clock: the dispatcher signs with it and the receiver
// verifies with it, so no test depends on the time it runs.
var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func clock() time.Time { return t0 }

// payloadMarker is in every test event's payload, to check that no log
// line carries a body.
const payloadMarker = "PAYLOAD-MARKER"

// cardEvent returns event seq of card id, a minute before t0.
func cardEvent(id string, seq int64, typ outbox.Type) outbox.Event {
	agg := outbox.Aggregate{Kind: outbox.AggregateCard, ID: id}
	payload := fmt.Sprintf(`{"card_id":%q,"n":%d,"text":"é<&>\u2028","marker":%q}`, id, seq, payloadMarker)
	return outbox.New(agg, seq, typ, giftkit.Client("pos-1"), t0.Add(-time.Minute), []byte(payload))
}

// appendEvents commits events to s's outbox in one unit of work.
func appendEvents(t testing.TB, s *memstore.Store, events ...outbox.Event) {
	t.Helper()
	if err := s.Update(context.Background(), func(tx *memstore.Tx) error { return tx.AppendEvents(events) }); err != nil {
		t.Fatal(err)
	}
}

// cards returns n events, one per card, of type typ.
func cards(prefix string, n int, typ outbox.Type) []outbox.Event {
	out := make([]outbox.Event, n)
	for i := range out {
		out[i] = cardEvent(fmt.Sprintf("%s%d", prefix, i+1), 1, typ)
	}
	return out
}

// outboxMessages returns the messages of every event in s's outbox, read
// by a consumer of the test's own.
func outboxMessages(t testing.TB, s *memstore.Store) []webhook.Message {
	t.Helper()
	events, err := s.Events(context.Background(), "test-audit", 0, outbox.MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]webhook.Message, len(events))
	for i, e := range events {
		out[i] = webhook.NewMessage(e)
	}
	return out
}

// A receiver is an endpoint that verifies every request as a receiver
// must, and records what it accepted.
type receiver struct {
	t        testing.TB
	verifier webhook.Verifier
	quit     chan struct{} // closed when the test ends: a blocked handler returns

	mu sync.Mutex
	// respond, if set, answers request number n (from 0) for message m:
	// it returns the status to write, or 0 if it wrote nothing.
	respond  func(n int, m webhook.Message, w http.ResponseWriter, r *http.Request) int
	requests []string          // the webhook-id of every request, in order
	got      []webhook.Message // the messages answered with a 2xx, in order
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if err := rc.verifier.Verify(r.Header, body, t0); err != nil {
		rc.t.Errorf("receiver: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("User-Agent") != webhook.DefaultUserAgent {
		rc.t.Errorf("receiver: %s with Content-Type %q, User-Agent %q", r.Method, r.Header.Get("Content-Type"), r.Header.Get("User-Agent"))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var m webhook.Message
	if err := dec.Decode(&m); err != nil || m.ID != r.Header.Get(webhook.HeaderID) {
		rc.t.Errorf("receiver: body %s, id %q: %v", body, r.Header.Get(webhook.HeaderID), err)
	}
	rc.mu.Lock()
	n := len(rc.requests)
	rc.requests = append(rc.requests, m.ID)
	respond := rc.respond
	rc.mu.Unlock()
	status := http.StatusNoContent
	if respond != nil {
		status = respond(n, m, w, r)
	}
	if status == 0 {
		return
	}
	if status >= 200 && status <= 299 {
		// Recorded before the answer, so the dispatcher cannot
		// acknowledge what the test has not seen yet.
		rc.mu.Lock()
		rc.got = append(rc.got, m)
		rc.mu.Unlock()
	}
	w.WriteHeader(status)
}

func (rc *receiver) setRespond(f func(n int, m webhook.Message, w http.ResponseWriter, r *http.Request) int) {
	rc.mu.Lock()
	rc.respond = f
	rc.mu.Unlock()
}

func (rc *receiver) messages() []webhook.Message {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]webhook.Message(nil), rc.got...)
}

func (rc *receiver) requestIDs() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.requests...)
}

// blockUntilGivenUp waits, as a handler slower than the client's timeout,
// until the client gives up.
func (rc *receiver) blockUntilGivenUp(r *http.Request) int {
	select {
	case <-r.Context().Done():
	case <-rc.quit:
	}
	return 0
}

// A fixture is a store, a receiver on loopback and a dispatcher between
// them, whose waits are recorded instead of waited.
type fixture struct {
	t     *testing.T
	store *memstore.Store
	rc    *receiver
	srv   *httptest.Server
	cfg   webhook.Config
	d     *webhook.Dispatcher
	logs  *syncBuffer

	mu     sync.Mutex
	sleeps []time.Duration

	cancel context.CancelFunc
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var testSecret = webhook.MustParseSecret("whsec_" + strings.Repeat("QUJD", 8))

func newFixture(t *testing.T, configure func(*webhook.Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, store: memstore.New(), logs: &syncBuffer{}}
	f.rc = &receiver{t: t, verifier: webhook.Verifier{Secrets: []webhook.Secret{testSecret}}, quit: make(chan struct{})}
	f.srv = httptest.NewServer(f.rc)
	t.Cleanup(func() {
		close(f.rc.quit)
		f.srv.Close()
	})
	f.cfg = webhook.Config{
		Reader:      f.store,
		Consumer:    "endpoint-1",
		URL:         f.srv.URL + "/hooks?token=URL-MARKER",
		Secrets:     []webhook.Secret{testSecret},
		Timeout:     5 * time.Second,
		BaseBackoff: time.Millisecond,
		MaxBackoff:  time.Minute,
		Logger:      slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:         clock,
		Sleep:       f.sleep,
	}
	if configure != nil {
		configure(&f.cfg)
	}
	d, err := webhook.NewDispatcher(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.d = d
	t.Cleanup(func() {
		if f.cancel != nil {
			f.cancel()
			<-f.done
		}
		if logs := f.logs.String(); strings.Contains(logs, payloadMarker) || strings.Contains(logs, "URL-MARKER") {
			t.Errorf("a body or the URL was logged:\n%s", logs)
		}
	})
	return f
}

// sleep records d and returns at once.
func (f *fixture) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.sleeps = append(f.sleeps, d)
	f.mu.Unlock()
	return ctx.Err()
}

func (f *fixture) recordedSleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

func (f *fixture) start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan error, 1)
	go func() { f.done <- f.d.Run(ctx) }()
}

// stop stops Run and returns what it returned.
func (f *fixture) stop() error {
	f.cancel()
	err := <-f.done
	f.cancel = nil
	return err
}

// runErr waits for Run to return on its own.
func (f *fixture) runErr() error {
	f.t.Helper()
	select {
	case err := <-f.done:
		f.cancel()
		f.cancel = nil
		return err
	case <-time.After(5 * time.Second):
		f.t.Fatal("Run did not return")
		return nil
	}
}

// eventually waits, up to a generous bound, for cond to hold. It polls: the
// bound is a guard against a hang, not a measure of anything.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (f *fixture) waitMessages(n int) []webhook.Message {
	f.t.Helper()
	eventually(f.t, fmt.Sprintf("%d messages", n), func() bool { return len(f.rc.messages()) >= n })
	return f.rc.messages()
}

// waitCursor waits until the consumer's cursor in the outbox is pos.
func (f *fixture) waitCursor(pos int64) {
	f.t.Helper()
	eventually(f.t, fmt.Sprintf("cursor %d", pos), func() bool {
		c, err := f.store.Cursor(context.Background(), f.cfg.Consumer)
		return err == nil && c == pos
	})
}

var messageOpts = cmp.Options{
	cmpopts.EquateEmpty(),
	cmp.Comparer(func(a, b giftkit.Currency) bool { return a == b }),
}

func ids(ms []webhook.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// Every event arrives, signed, in the outbox's order, exactly as the outbox
// holds it, while units of work keep committing.
// lagObserver keeps the outbox.lag notices.
type lagObserver struct {
	mu      sync.Mutex
	notices []string
}

func (o *lagObserver) Begin(ctx context.Context, op string) (context.Context, func(error, ...slog.Attr)) {
	return ctx, func(error, ...slog.Attr) {}
}

func (o *lagObserver) Notice(_ context.Context, name string, attrs ...slog.Attr) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.notices = append(o.notices, name+" "+slog.GroupValue(attrs...).String())
}

func TestDeliverInOrder(t *testing.T) {
	obs := &lagObserver{}
	f := newFixture(t, func(c *webhook.Config) { c.Observer = obs })
	appendEvents(t, f.store, cards("a", 5, outbox.CardIssued)...)
	f.start()
	for i := range 9 {
		agg := outbox.Aggregate{Kind: outbox.AggregateAccount, ID: fmt.Sprintf("owner-%d", i%3), Currency: giftkit.EUR}
		var batch []outbox.Event
		for j := range 5 {
			seq := int64(i/3*5 + j + 1)
			batch = append(batch, outbox.New(agg, seq, outbox.AccountCredited, giftkit.Shopper("alice"), t0,
				[]byte(fmt.Sprintf(`{"amount":"%d.00","marker":%q}`, seq, payloadMarker))))
		}
		appendEvents(t, f.store, batch...)
	}
	got := f.waitMessages(50)
	f.waitCursor(50)
	if err := f.stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v; want context.Canceled", err)
	}
	want := outboxMessages(t, f.store)
	if diff := cmp.Diff(want, got, messageOpts); diff != "" {
		t.Errorf("messages mismatch (-want +got):\n%s", diff)
	}
	if n := len(f.rc.requestIDs()); n != 50 {
		t.Errorf("%d requests; want 50", n)
	}
	s := f.d.Stats()
	if s.Delivered != 50 || s.FailedAttempts != 0 || s.DeadLettered != 0 || s.Cursor != 50 || s.Lag != 0 || s.Running {
		t.Errorf("Stats = %+v", s)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.notices) == 0 || !strings.HasPrefix(obs.notices[0], "outbox.lag [consumer=") {
		t.Errorf("lag notices = %q", obs.notices)
	}
}

// The events a real use case emits reach the endpoint, filtered by type.
func TestGiftcardEvents(t *testing.T) {
	f := newFixture(t, func(c *webhook.Config) { c.Types = []outbox.Type{outbox.CardActivated} })
	hasher, err := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := giftcard.NewService(f.store, giftcard.Config{Hasher: hasher, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := giftkit.WithActor(context.Background(), giftkit.Client("till-7"))
	batch, err := svc.Issue(ctx, giftcard.IssueRequest{Value: giftkit.MustParseMoney("50.00", giftkit.EUR), Count: 3, Pending: true}, "issue-1")
	if err != nil {
		t.Fatal(err)
	}
	f.start()
	card := batch.Cards[1].Card
	if _, err := svc.Activate(ctx, card.ID, "activate-1"); err != nil {
		t.Fatal(err)
	}
	got := f.waitMessages(1)
	all := outboxMessages(t, f.store)
	f.waitCursor(all[len(all)-1].Pos)
	if len(all) != 4 {
		t.Fatalf("outbox holds %d events; want 3 issued and 1 activated", len(all))
	}
	if diff := cmp.Diff(all[3:], got, messageOpts); diff != "" {
		t.Errorf("messages mismatch (-want +got):\n%s", diff)
	}
	m := got[0]
	if m.Type != outbox.CardActivated || m.Aggregate.ID != card.ID || m.Actor != giftkit.Client("till-7") || !m.Timestamp.Equal(t0) {
		t.Errorf("message = %+v", m)
	}
	if s := f.d.Stats(); s.Skipped != 3 || s.Delivered != 1 {
		t.Errorf("Stats = %+v; want 3 skipped, 1 delivered", s)
	}
	f.stop()
	if reqs := f.rc.requestIDs(); len(reqs) != 1 {
		t.Errorf("%d requests; want 1 (the others are filtered)", len(reqs))
	}
}

// An endpoint that fails, then comes back, gets every event once it
// accepts them, in order; the failed event holds back the ones after it.
func TestReceiverDownThenBack(t *testing.T) {
	f := newFixture(t, nil)
	events := cards("c", 6, outbox.CardIssued)
	var mu sync.Mutex
	failures := map[string]int{events[0].ID: 4, events[3].ID: 2} // per event, how many times to fail it
	f.rc.setRespond(func(n int, m webhook.Message, w http.ResponseWriter, r *http.Request) int {
		mu.Lock()
		defer mu.Unlock()
		if failures[m.ID] > 0 {
			failures[m.ID]--
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	appendEvents(t, f.store, events...)
	f.start()
	got := f.waitMessages(6)
	f.waitCursor(6)
	f.stop()
	if diff := cmp.Diff(outboxMessages(t, f.store), got, messageOpts); diff != "" {
		t.Errorf("messages mismatch (-want +got):\n%s", diff)
	}
	e := func(i int) string { return events[i].ID }
	wantRequests := []string{e(0), e(0), e(0), e(0), e(0), e(1), e(2), e(3), e(3), e(3), e(4), e(5)}
	if diff := cmp.Diff(wantRequests, f.rc.requestIDs()); diff != "" {
		t.Errorf("requests mismatch (-want +got):\n%s", diff)
	}
	// Backoff ceilings 1, 2, 4, 8 ms, then 1, 2 ms for the second event.
	ceilings := []time.Duration{1, 2, 4, 8, 1, 2}
	sleeps := f.recordedSleeps()
	if len(sleeps) != len(ceilings) {
		t.Fatalf("sleeps %v; want %d", sleeps, len(ceilings))
	}
	for i, s := range sleeps {
		if s < 0 || s > ceilings[i]*time.Millisecond {
			t.Errorf("sleep %d = %v; want within [0, %vms]", i, s, int(ceilings[i]))
		}
	}
	if s := f.d.Stats(); s.Delivered != 6 || s.FailedAttempts != 6 || s.LastStatus != 500 || s.LastError != "status 500" || s.Attempts != 0 {
		t.Errorf("Stats = %+v", s)
	}
}

// An endpoint slower than the timeout fails those attempts; when it is
// fast again, every event arrives in order.
func TestReceiverTimesOut(t *testing.T) {
	f := newFixture(t, func(c *webhook.Config) { c.Timeout = 50 * time.Millisecond })
	f.rc.setRespond(func(n int, m webhook.Message, w http.ResponseWriter, r *http.Request) int {
		if n < 2 {
			return f.rc.blockUntilGivenUp(r)
		}
		return http.StatusAccepted
	})
	appendEvents(t, f.store, cards("t", 3, outbox.CardIssued)...)
	f.start()
	got := f.waitMessages(3)
	f.waitCursor(3)
	f.stop()
	if diff := cmp.Diff(outboxMessages(t, f.store), got, messageOpts); diff != "" {
		t.Errorf("messages mismatch (-want +got):\n%s", diff)
	}
	if s := f.d.Stats(); s.FailedAttempts != 2 || s.LastError != "timed out after 50ms" || s.LastStatus != 0 {
		t.Errorf("Stats = %+v", s)
	}
}

// An event that fails every attempt becomes a dead letter; the next events
// go on; Replay sends it again once the endpoint takes it.
func TestDeadLetterAndReplay(t *testing.T) {
	f := newFixture(t, func(c *webhook.Config) { c.MaxAttempts = 3 })
	events := cards("d", 3, outbox.CardIssued)
	var mu sync.Mutex
	healed := false
	f.rc.setRespond(func(n int, m webhook.Message, w http.ResponseWriter, r *http.Request) int {
		mu.Lock()
		defer mu.Unlock()
		if m.ID == events[1].ID && !healed {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	appendEvents(t, f.store, events...)
	f.start()
	got := f.waitMessages(2)
	f.waitCursor(3)
	if diff := cmp.Diff([]string{events[0].ID, events[2].ID}, ids(got)); diff != "" {
		t.Errorf("delivered mismatch (-want +got):\n%s", diff)
	}

	ctx := context.Background()
	letters, err := f.d.DeadLetters(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	stored := outboxMessages(t, f.store)[1].Event()
	want := []outbox.DeadLetter{{Consumer: "endpoint-1", Event: stored, Attempts: 3, Status: 500, Error: "status 500", At: t0}}
	if diff := cmp.Diff(want, letters, messageOpts); diff != "" {
		t.Errorf("dead letters mismatch (-want +got):\n%s", diff)
	}
	if s := f.d.Stats(); s.DeadLettered != 1 || s.FailedAttempts != 3 || s.Delivered != 2 || s.Cursor != 3 {
		t.Errorf("Stats = %+v", s)
	}

	// A replay that fails counts in the dead letter.
	err = f.d.Replay(ctx, events[1].ID)
	var de *webhook.DeliveryError
	if !errors.As(err, &de) || !errors.Is(err, webhook.ErrDeliveryFailed) || giftkit.KindOf(err) != giftkit.ErrUnavailable ||
		de.Attempts != 4 || de.Status != 500 || de.EventID != events[1].ID {
		t.Fatalf("Replay of a failing event = %#v", err)
	}
	if l, _ := f.d.DeadLetters(ctx, 0, 10); len(l) != 1 || l[0].Attempts != 4 {
		t.Errorf("dead letters after a failed replay: %+v", l)
	}

	mu.Lock()
	healed = true
	mu.Unlock()
	if err := f.d.Replay(ctx, events[1].ID); err != nil {
		t.Fatalf("Replay = %v", err)
	}
	if diff := cmp.Diff([]string{events[0].ID, events[2].ID, events[1].ID}, ids(f.rc.messages())); diff != "" {
		t.Errorf("delivered mismatch (-want +got):\n%s", diff)
	}
	if l, _ := f.d.DeadLetters(ctx, 0, 10); len(l) != 0 {
		t.Errorf("dead letters after a replay: %+v", l)
	}
	if err := f.d.Replay(ctx, events[1].ID); !errors.Is(err, outbox.ErrDeadLetterNotFound) || giftkit.KindOf(err) != giftkit.ErrNotFound {
		t.Errorf("second Replay = %v; want outbox.ErrDeadLetterNotFound", err)
	}
	if s := f.d.Stats(); s.Delivered != 3 {
		t.Errorf("Stats = %+v; want 3 delivered", s)
	}
}

// A redirect is a failed attempt, never followed.
func TestRedirectNotFollowed(t *testing.T) {
	f := newFixture(t, func(c *webhook.Config) { c.MaxAttempts = 1 })
	f.rc.setRespond(func(n int, m webhook.Message, w http.ResponseWriter, r *http.Request) int {
		if r.URL.Path == "/elsewhere" {
			t.Error("the redirect was followed")
		}
		w.Header().Set("Location", "/elsewhere")
		return http.StatusFound
	})
	appendEvents(t, f.store, cardEvent("r1", 1, outbox.CardIssued))
	f.start()
	f.waitCursor(1)
	f.stop()
	letters, _ := f.d.DeadLetters(context.Background(), 0, 10)
	if len(letters) != 1 || letters[0].Status != http.StatusFound || letters[0].Error != "status 302 (redirects are not followed)" {
		t.Errorf("dead letters = %+v", letters)
	}
}

// 410 Gone: the event is a dead letter at once and Run stops; the next
// Run goes on from the event after it.
func TestGone(t *testing.T) {
	f := newFixture(t, nil)
	events := cards("g", 3, outbox.CardIssued)
	f.rc.setRespond(func(n int, m webhook.Message, w http.ResponseWriter, r *http.Request) int {
		if n == 1 {
			return http.StatusGone
		}
		return http.StatusOK
	})
	appendEvents(t, f.store, events...)
	f.start()
	err := f.runErr()
	var de *webhook.DeliveryError
	if !errors.As(err, &de) || !errors.Is(err, webhook.ErrGone) || de.Status != http.StatusGone || de.Attempts != 1 {
		t.Fatalf("Run = %v; want a DeliveryError with ErrGone", err)
	}
	if c, _ := f.store.Cursor(context.Background(), f.cfg.Consumer); c != 2 {
		t.Errorf("cursor = %d; want 2 (the gone event acknowledged, the next not)", c)
	}
	if diff := cmp.Diff([]string{events[0].ID, events[1].ID}, f.rc.requestIDs()); diff != "" {
		t.Errorf("requests mismatch (-want +got):\n%s", diff)
	}
	letters, _ := f.d.DeadLetters(context.Background(), 0, 10)
	if len(letters) != 1 || letters[0].Event.ID != events[1].ID || letters[0].Status != http.StatusGone || letters[0].Attempts != 1 {
		t.Errorf("dead letters = %+v", letters)
	}

	f.start()
	f.waitCursor(3)
	f.stop()
	if diff := cmp.Diff([]string{events[0].ID, events[2].ID}, ids(f.rc.messages())); diff != "" {
		t.Errorf("delivered mismatch (-want +got):\n%s", diff)
	}
}

// Retry-After replaces the backoff, up to MaxBackoff, in seconds or as a
// date read against Config.Now.
func TestRetryAfter(t *testing.T) {
	f := newFixture(t, func(c *webhook.Config) {
		c.Rand = zeroReader{} // the jittered backoff is 0
		c.MaxBackoff = time.Minute
	})
	answers := []struct {
		status     int
		retryAfter string
	}{
		{http.StatusServiceUnavailable, "7"},
		{http.StatusTooManyRequests, t0.Add(20 * time.Second).Format(http.TimeFormat)},
		{http.StatusServiceUnavailable, "100000"},
		{http.StatusServiceUnavailable, "soon"}, // unreadable: the backoff
		{http.StatusInternalServerError, ""},
	}
	f.rc.setRespond(func(n int, m webhook.Message, w http.ResponseWriter, r *http.Request) int {
		if n < len(answers) {
			if a := answers[n].retryAfter; a != "" {
				w.Header().Set("Retry-After", a)
			}
			return answers[n].status
		}
		return http.StatusOK
	})
	appendEvents(t, f.store, cardEvent("ra", 1, outbox.CardIssued))
	f.start()
	f.waitCursor(1)
	f.stop()
	want := []time.Duration{7 * time.Second, 20 * time.Second, time.Minute, 0, 0}
	if diff := cmp.Diff(want, f.recordedSleeps()); diff != "" {
		t.Errorf("waits mismatch (-want +got):\n%s", diff)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Redeliver sends again, in order, what the endpoint already had, before
// anything new; set before Run starts, it applies when Run starts.
func TestRedeliver(t *testing.T) {
	f := newFixture(t, nil)
	events := cards("rd", 5, outbox.CardIssued)
	appendEvents(t, f.store, events[:4]...)
	f.start()
	f.waitMessages(4)
	f.waitCursor(4)
	if err := f.d.Redeliver(1); err != nil {
		t.Fatal(err)
	}
	f.waitMessages(7)
	appendEvents(t, f.store, events[4])
	got := f.waitMessages(8)
	f.waitCursor(5)
	e := func(i int) string { return events[i].ID }
	if diff := cmp.Diff([]string{e(0), e(1), e(2), e(3), e(1), e(2), e(3), e(4)}, ids(got)); diff != "" {
		t.Errorf("delivered mismatch (-want +got):\n%s", diff)
	}
	f.stop()

	if err := f.d.Redeliver(3); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Redeliver(99); err != nil { // the earlier position wins; this one changes nothing
		t.Fatal(err)
	}
	f.start()
	got = f.waitMessages(10)
	f.stop()
	if diff := cmp.Diff([]string{e(3), e(4)}, ids(got[8:])); diff != "" {
		t.Errorf("delivered after a restart mismatch (-want +got):\n%s", diff)
	}
	if err := f.d.Redeliver(-1); !errors.Is(err, giftkit.ErrInvalid) {
		t.Errorf("Redeliver(-1) = %v; want ErrInvalid", err)
	}
}

// A Run stopped while it retries leaves the event unacknowledged, for the
// next Run; Stats shows the retry meanwhile.
func TestStopWhileRetrying(t *testing.T) {
	waiting := make(chan struct{}, 1)
	f := newFixture(t, func(c *webhook.Config) {
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			waiting <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}
	})
	f.rc.setRespond(func(n int, m webhook.Message, w http.ResponseWriter, r *http.Request) int {
		return http.StatusBadGateway
	})
	appendEvents(t, f.store, cardEvent("s1", 1, outbox.CardIssued))
	f.start()
	<-waiting
	s := f.d.Stats()
	if !s.Running || s.Attempts != 1 || s.LastStatus != http.StatusBadGateway || s.Lag != time.Minute ||
		s.RetryAt.Before(t0) || s.RetryAt.After(t0.Add(time.Millisecond)) || s.Cursor != 0 {
		t.Errorf("Stats while retrying = %+v", s)
	}
	ctx := context.Background()
	if err := f.d.Run(ctx); !errors.Is(err, webhook.ErrRunning) || giftkit.KindOf(err) != giftkit.ErrConflict {
		t.Errorf("second Run = %v; want ErrRunning", err)
	}
	if err := f.stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v; want context.Canceled", err)
	}
	if c, _ := f.store.Cursor(ctx, f.cfg.Consumer); c != 0 {
		t.Errorf("cursor = %d; want 0", c)
	}
	if s := f.d.Stats(); s.Running || s.Lag != 0 {
		t.Errorf("Stats after Run = %+v", s)
	}

	f.rc.setRespond(nil)
	f.start()
	f.waitCursor(1)
	f.stop()
	if n := len(f.rc.messages()); n != 1 {
		t.Errorf("%d messages; want 1", n)
	}
}

// A failing outbox is retried, not fatal.
func TestOutboxFailure(t *testing.T) {
	store := memstore.New()
	flaky := &flakyReader{Reader: store, failures: 3}
	f := newFixture(t, func(c *webhook.Config) { c.Reader = flaky })
	f.store = store
	appendEvents(t, store, cardEvent("o1", 1, outbox.CardIssued))
	f.start()
	f.waitCursor(1)
	f.stop()
	if n := len(f.rc.messages()); n != 1 {
		t.Errorf("%d messages; want 1", n)
	}
	if !strings.Contains(f.logs.String(), "outbox unreachable") {
		t.Errorf("the outbox's failure was not logged:\n%s", f.logs.String())
	}
}

// flakyReader fails its first reads.
type flakyReader struct {
	outbox.Reader
	mu       sync.Mutex
	failures int
}

func (r *flakyReader) Events(ctx context.Context, consumer string, after int64, limit int) ([]outbox.Event, error) {
	r.mu.Lock()
	fail := r.failures > 0
	r.failures--
	r.mu.Unlock()
	if fail {
		return nil, errors.New("outbox unreachable")
	}
	return r.Reader.Events(ctx, consumer, after, limit)
}

func TestNewDispatcher(t *testing.T) {
	store := memstore.New()
	valid := func() webhook.Config {
		return webhook.Config{Reader: store, Consumer: "c", URL: "https://example.com/hooks", Secrets: []webhook.Secret{testSecret}, Now: clock}
	}
	if _, err := webhook.NewDispatcher(valid()); err != nil {
		t.Fatalf("NewDispatcher(valid) = %v", err)
	}
	for name, tt := range map[string]struct {
		change func(*webhook.Config)
		want   error
	}{
		"no reader":          {func(c *webhook.Config) { c.Reader = nil }, webhook.ErrInvalidConfig},
		"no clock":           {func(c *webhook.Config) { c.Now = nil }, webhook.ErrInvalidConfig},
		"no consumer":        {func(c *webhook.Config) { c.Consumer = "" }, webhook.ErrInvalidConfig},
		"consumer not text":  {func(c *webhook.Config) { c.Consumer = "a\x00b" }, webhook.ErrInvalidConfig},
		"no URL":             {func(c *webhook.Config) { c.URL = "" }, webhook.ErrInvalidConfig},
		"relative URL":       {func(c *webhook.Config) { c.URL = "/hooks" }, webhook.ErrInvalidConfig},
		"ftp URL":            {func(c *webhook.Config) { c.URL = "ftp://example.com/" }, webhook.ErrInvalidConfig},
		"no secret":          {func(c *webhook.Config) { c.Secrets = nil }, webhook.ErrInvalidSecret},
		"zero secret":        {func(c *webhook.Config) { c.Secrets = []webhook.Secret{{}} }, webhook.ErrInvalidSecret},
		"negative timeout":   {func(c *webhook.Config) { c.Timeout = -1 }, webhook.ErrInvalidConfig},
		"negative attempts":  {func(c *webhook.Config) { c.MaxAttempts = -1 }, webhook.ErrInvalidConfig},
		"base beyond cap":    {func(c *webhook.Config) { c.BaseBackoff, c.MaxBackoff = time.Hour, time.Minute }, webhook.ErrInvalidConfig},
		"negative poll":      {func(c *webhook.Config) { c.PollInterval = -time.Second }, webhook.ErrInvalidConfig},
		"default cap < base": {func(c *webhook.Config) { c.BaseBackoff = 2 * time.Hour }, webhook.ErrInvalidConfig},
	} {
		cfg := valid()
		tt.change(&cfg)
		if _, err := webhook.NewDispatcher(cfg); !errors.Is(err, tt.want) || giftkit.KindOf(err) != giftkit.ErrInvalid {
			t.Errorf("%s: NewDispatcher = %v; want %v", name, err, tt.want)
		}
	}
}

func TestMemoryDeadLetters(t *testing.T) {
	ctx := context.Background()
	m := outbox.NewMemoryDeadLetters()
	events := cards("m", 4, outbox.CardIssued)
	for i, e := range events {
		e.Pos = int64(10 - i) // stored out of order
		for _, consumer := range []string{"a", "b"} {
			if err := m.Put(ctx, outbox.DeadLetter{Consumer: consumer, Event: e, Attempts: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := m.List(ctx, "a", 7, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Event.Pos != 8 || got[1].Event.Pos != 9 || got[0].Consumer != "a" {
		t.Errorf("List(a, after 7, 2) = %+v", got)
	}
	got[0].Event.Payload[0] = 'X' // a copy
	l, err := m.Get(ctx, "a", got[0].Event.ID)
	if err != nil || l.Event.Payload[0] != '{' {
		t.Errorf("Get = %+v, %v; want the stored copy", l, err)
	}
	l.Attempts = 5
	if err := m.Put(ctx, l); err != nil {
		t.Fatal(err)
	}
	if l, _ := m.Get(ctx, "a", l.Event.ID); l.Attempts != 5 {
		t.Errorf("Put did not replace: %+v", l)
	}
	if err := m.Delete(ctx, "a", l.Event.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, "a", l.Event.ID); err != nil {
		t.Errorf("second Delete = %v; want nil", err)
	}
	if _, err := m.Get(ctx, "a", l.Event.ID); !errors.Is(err, outbox.ErrDeadLetterNotFound) {
		t.Errorf("Get after Delete = %v", err)
	}
	if all, _ := m.List(ctx, "b", 0, 100); len(all) != 4 {
		t.Errorf("consumer b has %d dead letters; want 4", len(all))
	}
}

// A message round-trips through JSON and back to its event.
func TestMessageRoundTrip(t *testing.T) {
	e := cardEvent("x", 3, outbox.CardRedeemed)
	e.Pos = 42
	body, err := json.Marshal(webhook.NewMessage(e))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"type":"card.redeemed"`, `"timestamp":"2026-12-01T08:59:00Z"`, `"data":{`, `"id":"evt_`, `"pos":42`, `"seq":3`} {
		if !bytes.Contains(body, []byte(key)) {
			t.Errorf("body %s lacks %s", body, key)
		}
	}
	var m webhook.Message
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, m.Event(), messageOpts, cmp.Comparer(func(a, b json.RawMessage) bool {
		var x, y any
		return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && cmp.Equal(x, y)
	})); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
}

// An event that cannot be encoded is a dead letter at once, unsent; the
// next goes on.
func TestUnencodableEvent(t *testing.T) {
	f := newFixture(t, nil)
	bad := cardEvent("u1", 1, outbox.CardIssued)
	bad.Payload = []byte(`{"card_id":`)
	good := cardEvent("u2", 1, outbox.CardIssued)
	appendEvents(t, f.store, bad, good)
	f.start()
	f.waitCursor(2)
	f.stop()
	if diff := cmp.Diff([]string{good.ID}, f.rc.requestIDs()); diff != "" {
		t.Errorf("requests mismatch (-want +got):\n%s", diff)
	}
	letters, _ := f.d.DeadLetters(context.Background(), 0, 10)
	if len(letters) != 1 || letters[0].Event.ID != bad.ID || letters[0].Attempts != 0 || !strings.HasPrefix(letters[0].Error, "encode: ") {
		t.Errorf("dead letters = %+v", letters)
	}
}
