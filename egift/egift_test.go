package egift_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/egift"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/storetest"
	"github.com/giftkit/giftkit/wallet"
)

var (
	keyA = bytes.Repeat([]byte{0xa1}, egift.KeyLen)
	keyB = bytes.Repeat([]byte{0xb2}, egift.KeyLen)
	eur  = giftkit.EUR
	t0   = time.Date(2026, 12, 20, 8, 0, 0, 0, time.UTC)
)

// outbox of messages a test Sender received.
type inbox struct {
	mu   sync.Mutex
	got  []egift.Message
	fail int // fail this many more calls
	err  func(m egift.Message) error
}

func (b *inbox) Send(_ context.Context, m egift.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail > 0 {
		b.fail--
		if b.err != nil {
			return b.err(m)
		}
		return errors.New("smtp: 451 try again later")
	}
	b.got = append(b.got, m)
	return nil
}

type env struct {
	store  *memstore.Store
	clock  *storetest.Clock
	cards  *giftcard.Service
	wallet *wallet.Service
	svc    *egift.Service
	inbox  *inbox
}

func newEnv(t *testing.T, keys *egift.Keyring) env {
	t.Helper()
	store := memstore.New()
	clock := storetest.NewClock(t0)
	hasher, _ := giftcard.NewHasher(storetest.TestHashKey)
	cards, err := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: clock.Now, Rand: rand.NewChaCha8([32]byte{1})})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if keys == nil {
		keys, _ = egift.NewKeyring(keyA)
	}
	in := &inbox{}
	svc, err := egift.NewService(store, egift.Config{Cards: cards, Keys: keys, Sender: in, Now: clock.Now,
		Rand: rand.NewChaCha8([32]byte{2}), MaxAttempts: 3, RetryAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return env{store, clock, cards, w, svc, in}
}

func (e env) stored(t *testing.T, id string) egift.Delivery {
	t.Helper()
	var d egift.Delivery
	if err := e.store.Update(context.Background(), func(tx *memstore.Tx) error {
		var ok bool
		var err error
		d, ok, err = tx.Delivery(id)
		if !ok && err == nil {
			err = errors.New("not found")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return d
}

var gift = egift.SendRequest{Value: giftkit.MustParseMoney("40.00", eur), Recipient: "zoe@example.org",
	From: "Mamie", Message: "Joyeux Noël !\nBises"}

func TestSendDeliverRedeem(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	req := gift
	req.SendAt = t0.Add(24 * time.Hour)
	d, err := e.svc.Send(ctx, req, "order-77")
	if err != nil {
		t.Fatal(err)
	}
	if d.State != egift.StateScheduled || d.ID != egift.IDOf(d.CardID) || d.Sealed != nil || !d.SendAt.Equal(req.SendAt) {
		t.Fatalf("Send = %+v", d)
	}
	if len(e.stored(t, d.ID).Sealed) == 0 {
		t.Fatal("the stored delivery has no sealed code")
	}
	if rep, err := e.svc.Deliver(ctx, 10); err != nil || rep != (egift.Report{}) || len(e.inbox.got) != 0 {
		t.Fatalf("Deliver before its time = %+v, %v, %d sent", rep, err, len(e.inbox.got))
	}
	e.clock.Advance(24 * time.Hour)
	if rep, err := e.svc.Deliver(ctx, 10); err != nil || rep != (egift.Report{Sent: 1}) {
		t.Fatalf("Deliver at its time = %+v, %v", rep, err)
	}
	m := e.inbox.got[0]
	if m.DeliveryID != d.ID || m.To != gift.Recipient || m.From != gift.From || m.Text != gift.Message || m.Value != gift.Value || m.CardID != d.CardID {
		t.Fatalf("message = %v", m)
	}
	if strings.Contains(m.String(), m.Code.String()) || strings.Contains(fmt.Sprintf("%v %+v %#v", m, m, m), m.Code.String()) {
		t.Fatal("a Message prints its code")
	}
	sent := e.stored(t, d.ID)
	if sent.State != egift.StateSent || len(sent.Sealed) != 0 || !sent.SentAt.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("after sending: %v, %d sealed bytes, sent at %v", sent.State, len(sent.Sealed), sent.SentAt)
	}
	// The code the recipient got is the card's.
	if r, err := e.wallet.Redeem(ctx, "zoe", m.Code.String(), "zoe-redeems"); err != nil || r.CardID != d.CardID {
		t.Fatalf("redeeming the sent code: %+v, %v", r, err)
	}
	// Sent means sent: its code is gone.
	if _, err := e.svc.Reschedule(ctx, d.ID, "other@example.org", time.Time{}); !errors.Is(err, egift.ErrAlreadySent) || !errors.Is(err, giftkit.ErrConflict) {
		t.Fatalf("Reschedule after sending = %v; want ErrAlreadySent", err)
	}
	if _, err := e.svc.Cancel(ctx, d.ID); !errors.Is(err, egift.ErrAlreadySent) {
		t.Fatalf("Cancel after sending = %v; want ErrAlreadySent", err)
	}
	if rep, _ := e.svc.Deliver(ctx, 10); rep.Sent != 0 {
		t.Fatal("a sent delivery was sent again")
	}
}

// TestNoCodeAtRest checks that no form of the code is in anything the
// store keeps: the delivery, the card, the activity log or the outbox.
func TestNoCodeAtRest(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	e.inbox.fail, e.inbox.err = 1, func(m egift.Message) error {
		return fmt.Errorf("smtp: 550 mailbox for %s unavailable (code %s / %s)", m.To, m.Code, strings.ToLower(strings.ReplaceAll(m.Code.String(), "-", "")))
	}
	d, err := e.svc.Send(ctx, gift, "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Deliver(ctx, 10); err != nil {
		t.Fatal(err)
	}
	afterFailure := e.stored(t, d.ID)
	if !strings.Contains(afterFailure.LastError, "****-******-*") {
		t.Fatalf("the Sender's error, stored: %q; want the code masked in it", afterFailure.LastError)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.svc.Deliver(ctx, 10); err != nil {
		t.Fatal(err)
	}
	code := e.inbox.got[0].Code
	forms := []string{code.String(), strings.ReplaceAll(code.String(), "-", "")}
	var dump bytes.Buffer
	failed := e.stored(t, d.ID)
	fmt.Fprintf(&dump, "%+v %s\n%+v\n", failed, failed.Sealed, afterFailure)
	events, _ := e.store.Events(ctx, "dump", 0, 1000)
	for _, ev := range events {
		fmt.Fprintf(&dump, "%+v %s\n", ev, ev.Payload)
	}
	card, _ := e.cards.Card(ctx, d.CardID)
	fmt.Fprintf(&dump, "%+v\n", card)
	for _, f := range forms {
		if strings.Contains(strings.ToUpper(dump.String()), f) {
			t.Fatalf("the code %s is in what the store keeps:\n%s", f, dump.String())
		}
	}
	if failed.State != egift.StateSent || failed.Attempts != 1 {
		t.Fatalf("after one failure and a retry: %v, %d attempts", failed.State, failed.Attempts)
	}
}

func TestRetriesThenFails(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	e.inbox.fail = 3
	d, _ := e.svc.Send(ctx, gift, "k")
	waits := []time.Duration{0, time.Minute, 2 * time.Minute}
	for i, w := range waits {
		e.clock.Advance(w)
		rep, err := e.svc.Deliver(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		want := egift.Report{Retrying: 1}
		if i == len(waits)-1 {
			want = egift.Report{Failed: 1}
		}
		if rep != want {
			t.Fatalf("attempt %d: %+v; want %+v", i+1, rep, want)
		}
		if i < len(waits)-1 { // not due again before its wait
			e.clock.Advance(waits[i+1] - time.Nanosecond)
			if rep, _ := e.svc.Deliver(ctx, 10); rep != (egift.Report{}) {
				t.Fatalf("attempt %d retried early: %+v", i+1, rep)
			}
			e.clock.Advance(-(waits[i+1] - time.Nanosecond))
		}
	}
	failed := e.stored(t, d.ID)
	if failed.State != egift.StateFailed || failed.Attempts != 3 || failed.LastError == "" || len(failed.Sealed) == 0 {
		t.Fatalf("after 3 failures: %+v", failed)
	}
	// A failed delivery keeps its code for a new address.
	if _, err := e.svc.Reschedule(ctx, d.ID, "zoe@example.net", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if rep, _ := e.svc.Deliver(ctx, 10); rep.Sent != 1 || e.inbox.got[0].To != "zoe@example.net" {
		t.Fatalf("after Reschedule: %+v to %v", rep, e.inbox.got)
	}
}

func TestCancel(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	d, _ := e.svc.Send(ctx, gift, "k")
	c, err := e.svc.Cancel(ctx, d.ID)
	if err != nil || c.State != egift.StateCancelled {
		t.Fatalf("Cancel = %v, %v", c.State, err)
	}
	if len(e.stored(t, d.ID).Sealed) != 0 {
		t.Fatal("a cancelled delivery kept its code")
	}
	if again, err := e.svc.Cancel(ctx, d.ID); err != nil || again.State != egift.StateCancelled {
		t.Fatalf("Cancel again = %v, %v", again.State, err)
	}
	if _, err := e.svc.Reschedule(ctx, d.ID, "", time.Time{}); !errors.Is(err, egift.ErrCancelled) {
		t.Fatalf("Reschedule a cancelled delivery = %v", err)
	}
	if rep, _ := e.svc.Deliver(ctx, 10); rep != (egift.Report{}) {
		t.Fatalf("Deliver sent a cancelled delivery: %+v", rep)
	}
	if _, err := e.svc.Cancel(ctx, "dlv_nope"); !errors.Is(err, egift.ErrNotFound) || !errors.Is(err, giftkit.ErrNotFound) {
		t.Fatalf("Cancel of no delivery = %v", err)
	}
}

func TestSendIsIdempotent(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	first, err := e.svc.Send(ctx, gift, "order-9")
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.Send(ctx, gift, "order-9")
	if err != nil || again.ID != first.ID || again.CardID != first.CardID {
		t.Fatalf("retry = %+v, %v; want %s", again, err, first.ID)
	}
	other := gift
	other.Recipient = "someone-else@example.org"
	if _, err := e.svc.Send(ctx, other, "order-9"); !errors.Is(err, giftkit.ErrIdempotencyConflict) {
		t.Fatalf("another request under the key = %v; want ErrIdempotencyConflict", err)
	}
	events, _ := e.store.Events(ctx, "count", 0, 100)
	if len(events) != 1 || events[0].Type != outbox.CardIssued {
		t.Fatalf("events = %v; want one card.issued", events)
	}
}

func TestInvalidRequests(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	for _, mod := range []func(*egift.SendRequest){
		func(r *egift.SendRequest) { r.Recipient = "" },
		func(r *egift.SendRequest) { r.Recipient = "no-at-sign" },
		func(r *egift.SendRequest) { r.Recipient = "@example.org" },
		func(r *egift.SendRequest) { r.Recipient = "zoe@" },
		func(r *egift.SendRequest) { r.Recipient = "Zoe <zoe@example.org>" },
		func(r *egift.SendRequest) { r.Recipient = "zoe@example.org\r\nBcc: x@y.z" },
		func(r *egift.SendRequest) { r.Recipient = strings.Repeat("a", 250) + "@b.co" },
		func(r *egift.SendRequest) { r.From = "a\x00b" },
		func(r *egift.SendRequest) { r.Message = strings.Repeat("x", egift.MaxMessageLen+1) },
		func(r *egift.SendRequest) { r.Message = "bell\a" },
		func(r *egift.SendRequest) { r.Message = "\xff" },
	} {
		req := gift
		mod(&req)
		if _, err := e.svc.Send(ctx, req, "k"); !errors.Is(err, egift.ErrInvalidRequest) || !errors.Is(err, giftkit.ErrInvalid) {
			t.Errorf("Send(%q, %q, %q) = %v; want ErrInvalidRequest", req.Recipient, req.From, req.Message, err)
		}
	}
	req := gift
	req.Value = giftkit.Money{}
	if _, err := e.svc.Send(ctx, req, "k"); !errors.Is(err, giftkit.ErrInvalid) {
		t.Errorf("Send without a value = %v", err)
	}
	if events, _ := e.store.Events(ctx, "count", 0, 100); len(events) != 0 {
		t.Fatalf("refused requests issued %d cards", len(events))
	}
}

// failAfter reads n bytes from r, then fails.
type failAfter struct {
	r io.Reader
	n int
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("entropy exhausted")
	}
	p = p[:min(len(p), f.n)]
	f.n -= len(p)
	return f.r.Read(p)
}

// TestAtomic checks that a card is issued if and only if its delivery is
// stored: a seal that fails issues nothing.
func TestAtomic(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	hasher, _ := giftcard.NewHasher(storetest.TestHashKey)
	now := func() time.Time { return t0 }
	cards, _ := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: now})
	keys, _ := egift.NewKeyring(keyA)
	svc, _ := egift.NewService(store, egift.Config{Cards: cards, Keys: keys, Now: now, Rand: &failAfter{r: rand.NewChaCha8([32]byte{}), n: 0}})
	if _, err := svc.Send(ctx, gift, "k"); err == nil {
		t.Fatal("Send succeeded without randomness for the seal")
	}
	if events, _ := store.Events(ctx, "count", 0, 100); len(events) != 0 {
		t.Fatalf("a failed Send left %d events (a card without its delivery)", len(events))
	}
}

func TestKeyRotationAndTampering(t *testing.T) {
	ctx := context.Background()
	oldKeys, _ := egift.NewKeyring(keyA)
	e := newEnv(t, oldKeys)
	d1, _ := e.svc.Send(ctx, gift, "k1")
	d2, _ := e.svc.Send(ctx, gift, "k2")
	d3, _ := e.svc.Send(ctx, gift, "k3")
	// d2's sealed code copied onto d3: bound to its delivery, it does not open.
	s2 := e.stored(t, d2.ID)
	s3 := e.stored(t, d3.ID)
	s3.Sealed = s2.Sealed
	_ = e.store.Update(ctx, func(tx *memstore.Tx) error { return tx.PutDelivery(s3) })

	rotated, err := egift.NewKeyring(keyB, keyA)
	if err != nil {
		t.Fatal(err)
	}
	e2 := e
	e2.svc, _ = egift.NewService(e.store, egift.Config{Cards: e.cards, Keys: rotated, Sender: e.inbox, Now: e.clock.Now})
	rep, err := e2.svc.Deliver(ctx, 10)
	if err != nil || rep != (egift.Report{Sent: 2, Failed: 1}) {
		t.Fatalf("Deliver after rotation = %+v, %v; want 2 sent (old key), 1 failed (moved seal)", rep, err)
	}
	if f := e.stored(t, d3.ID); f.State != egift.StateFailed || !strings.Contains(f.LastError, "cannot be opened") {
		t.Fatalf("the moved seal: %v %q", f.State, f.LastError)
	}
	_ = d1
	if _, err := egift.NewKeyring(keyA[:16]); err == nil {
		t.Fatal("NewKeyring took a 16-byte key")
	}
	if _, err := egift.NewKeyring(keyA, keyA); err == nil {
		t.Fatal("NewKeyring took one key twice")
	}
	// Without the old key, a delivery sealed with it fails, and says why.
	d4, _ := e.svc.Send(ctx, gift, "k4")
	onlyNew, _ := egift.NewKeyring(keyB)
	e3, _ := egift.NewService(e.store, egift.Config{Cards: e.cards, Keys: onlyNew, Sender: e.inbox, Now: e.clock.Now})
	if rep, _ := e3.Deliver(ctx, 10); rep.Failed != 1 {
		t.Fatalf("Deliver without the sealing key = %+v", rep)
	}
	if f := e.stored(t, d4.ID); f.State != egift.StateFailed || len(f.Sealed) == 0 {
		t.Fatalf("an unsealable delivery: %v, %d bytes kept", f.State, len(f.Sealed))
	}
}

// TestConcurrentDeliverers runs two Deliver loops over one store: each
// delivery is sent once.
func TestConcurrentDeliverers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	const n = 40
	for i := range n {
		if _, err := e.svc.Send(ctx, gift, fmt.Sprint("k", i)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				if _, err := e.svc.Deliver(ctx, 3); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for _, m := range e.inbox.got {
		seen[m.DeliveryID]++
	}
	if len(seen) != n {
		t.Fatalf("%d deliveries sent; want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s sent %d times", id, c)
		}
	}
}

// blockingSender holds each Send until released, to act while a delivery
// is out.
type blockingSender struct {
	started chan egift.Message
	release chan error
}

func (b blockingSender) Send(ctx context.Context, m egift.Message) error {
	b.started <- m
	select {
	case err := <-b.release:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestWhileSending: a delivery out with a Sender cannot be cancelled or
// rescheduled (its code may be with the recipient already), and is sent
// once.
func TestWhileSending(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	bs := blockingSender{started: make(chan egift.Message, 1), release: make(chan error)}
	keys, _ := egift.NewKeyring(keyA)
	svc, _ := egift.NewService(e.store, egift.Config{Cards: e.cards, Keys: keys, Sender: bs, Now: e.clock.Now})
	d, _ := svc.Send(ctx, gift, "k")
	done := make(chan egift.Report)
	go func() {
		rep, _ := svc.Deliver(ctx, 10)
		done <- rep
	}()
	<-bs.started
	if got := e.stored(t, d.ID); got.State != egift.StateSending {
		t.Fatalf("while the Sender has it: %v", got.State)
	}
	if _, err := svc.Cancel(ctx, d.ID); !errors.Is(err, egift.ErrSending) || !errors.Is(err, giftkit.ErrConflict) {
		t.Errorf("Cancel while sending = %v; want ErrSending", err)
	}
	if _, err := svc.Reschedule(ctx, d.ID, "other@example.org", time.Time{}); !errors.Is(err, egift.ErrSending) {
		t.Errorf("Reschedule while sending = %v; want ErrSending", err)
	}
	if rep, _ := svc.Deliver(ctx, 10); rep != (egift.Report{}) {
		t.Errorf("a second Deliver took a delivery that is out: %+v", rep)
	}
	bs.release <- nil
	if rep := <-done; rep != (egift.Report{Sent: 1}) {
		t.Fatalf("Deliver = %+v", rep)
	}
	if got := e.stored(t, d.ID); got.State != egift.StateSent || len(got.Sealed) != 0 {
		t.Fatalf("after sending: %v", got.State)
	}
}

// TestLapsedLease: a delivery whose Deliver died holding it is due again
// once its lease lapses, and can be cancelled then.
func TestLapsedLease(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	d, _ := e.svc.Send(ctx, gift, "k")
	// A Deliver that died after its claim: the delivery as it left it.
	out := e.stored(t, d.ID)
	out.State, out.SendAt = egift.StateSending, t0.Add(5*time.Minute)
	_ = e.store.Update(ctx, func(tx *memstore.Tx) error { return tx.PutDelivery(out) })
	if rep, _ := e.svc.Deliver(ctx, 10); rep != (egift.Report{}) {
		t.Fatalf("Deliver before the lease lapsed: %+v", rep)
	}
	e.clock.Advance(5 * time.Minute)
	if rep, _ := e.svc.Deliver(ctx, 10); rep != (egift.Report{Sent: 1}) {
		t.Fatalf("Deliver after the lease lapsed: %+v", rep)
	}
}

// TestCardNoLongerUsable: a voided card's delivery is cancelled, not
// sent; a blocked card's waits.
func TestCardNoLongerUsable(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	voided, _ := e.svc.Send(ctx, gift, "k1")
	blocked, _ := e.svc.Send(ctx, gift, "k2")
	if _, err := e.cards.Void(ctx, voided.CardID, "void"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cards.Block(ctx, blocked.CardID, "block"); err != nil {
		t.Fatal(err)
	}
	if rep, _ := e.svc.Deliver(ctx, 10); rep != (egift.Report{Cancelled: 1, Retrying: 1}) || len(e.inbox.got) != 0 {
		t.Fatalf("Deliver = %+v, %d sent", rep, len(e.inbox.got))
	}
	if got := e.stored(t, voided.ID); got.State != egift.StateCancelled || len(got.Sealed) != 0 {
		t.Errorf("voided card's delivery: %v, %d sealed bytes", got.State, len(got.Sealed))
	}
	if got := e.stored(t, blocked.ID); got.State != egift.StateScheduled || got.Attempts != 0 || len(got.Sealed) == 0 {
		t.Errorf("blocked card's delivery: %+v", got)
	}
	if _, err := e.cards.Unblock(ctx, blocked.CardID, "unblock"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if rep, _ := e.svc.Deliver(ctx, 10); rep != (egift.Report{Sent: 1}) {
		t.Fatalf("Deliver after unblocking = %+v", rep)
	}
}

// TestSlowSender: the Sender's context ends with the lease, so a Sender
// that would outlast it is stopped before another Deliver may take over.
func TestSlowSender(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	var deadline time.Time
	keys, _ := egift.NewKeyring(keyA)
	svc, _ := egift.NewService(e.store, egift.Config{Cards: e.cards, Keys: keys, Now: e.clock.Now, Lease: time.Minute,
		Sender: senderFunc(func(ctx context.Context, m egift.Message) error {
			deadline, _ = ctx.Deadline()
			return nil
		})})
	_, _ = svc.Send(ctx, gift, "k")
	if _, err := svc.Deliver(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if !deadline.Equal(t0.Add(time.Minute)) {
		t.Fatalf("the Sender's deadline = %v; want the lease's end, %v", deadline, t0.Add(time.Minute))
	}
}

type senderFunc func(context.Context, egift.Message) error

func (f senderFunc) Send(ctx context.Context, m egift.Message) error { return f(ctx, m) }

// TestMessageNeverLeaksItsCode: a Message logged with slog (text or JSON)
// or encoded to JSON shows its code masked.
func TestMessageNeverLeaksItsCode(t *testing.T) {
	code, _ := codefmt.Generate(rand.NewChaCha8([32]byte{9}))
	m := egift.Message{DeliveryID: "dlv_1", To: "zoe@example.org", Code: code, Value: gift.Value}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("sending", "msg", m)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("sending", "msg", m)
	j, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	buf.Write(j)
	fmt.Fprintf(&buf, "%v %+v %#v %s", m, m, m, m)
	for _, form := range []string{code.String(), strings.ReplaceAll(code.String(), "-", "")} {
		if strings.Contains(buf.String(), form) {
			t.Fatalf("the code is in:\n%s", buf.String())
		}
	}
	if !strings.Contains(string(j), code.Masked()) || !strings.Contains(string(j), `"To":"zoe@example.org"`) {
		t.Fatalf("JSON = %s", j)
	}
}

// A card reloaded before its delivery (opened into its own account, not
// spent) is still sent: its code holds value.
func TestDeliverOpenedCard(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	req := gift
	req.SendAt = t0.Add(time.Hour)
	d, err := e.svc.Send(ctx, req, "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.wallet.Reload(ctx, d.CardID, giftkit.MustParseMoney("5.00", eur), "top-up", "reload"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour)
	if rep, err := e.svc.Deliver(ctx, 10); err != nil || rep.Sent != 1 || rep.Cancelled != 0 {
		t.Fatalf("Deliver = %+v, %v; want the reloaded card sent", rep, err)
	}
	m := e.inbox.got[len(e.inbox.got)-1]
	if b, err := e.wallet.CheckBalance(ctx, "zoe", m.Code.String()); err != nil || b.Available != giftkit.MustParseMoney("45.00", eur) {
		t.Errorf("the sent code holds %v, %v; want 45.00", b.Available, err)
	}
}
