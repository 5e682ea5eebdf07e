package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/outbox"
)

// The defaults of a [Config]'s zero fields.
const (
	DefaultTimeout      = 30 * time.Second // the Standard Webhooks specification recommends 15 to 30 seconds
	DefaultMaxAttempts  = 10
	DefaultBaseBackoff  = 5 * time.Second
	DefaultMaxBackoff   = time.Hour
	DefaultPollInterval = 30 * time.Second
	DefaultUserAgent    = "giftkit-webhook/1"
)

// pageSize is how many events Run reads from the outbox at a time.
const pageSize = 100

// maxResponseDrain is how much of a response body is read (and thrown
// away) so that its connection can be reused.
const maxResponseDrain = 64 << 10

// Config configures a [Dispatcher]: one endpoint, read from the outbox by
// one consumer.
type Config struct {
	// Reader is the store's outbox. Required.
	Reader outbox.Reader
	// Consumer is the outbox consumer name whose cursor the dispatcher
	// reads and moves: one per endpoint, and one running dispatcher per
	// consumer across every process (two would both deliver each event).
	// The outbox registers it at Run's first read; until then Prune may
	// remove events it has not seen. Required; see outbox.CheckConsumer.
	Consumer string
	// URL is the endpoint, an absolute http or https URL. Required. Use
	// https: the signature makes a body tamper-evident, not secret.
	URL string
	// Secrets sign every message, each giving one signature in
	// webhook-signature: more than one while the endpoint's secret changes
	// over. Required: at least one.
	Secrets []Secret
	// Client sends the requests; nil means a client of its own with
	// Timeout as its timeout. Redirects are never followed (a 3xx answer
	// is a failed attempt, as the specification says): the dispatcher
	// uses a copy of Client with its CheckRedirect replaced.
	Client *http.Client
	// Timeout bounds each attempt, from sending the request to reading
	// the response headers and up to 64 KiB of its body; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// MaxAttempts is how many times an event is tried before it becomes a
	// dead letter; zero means DefaultMaxAttempts. The count is kept in
	// memory: an event that is being retried when the process stops gets
	// MaxAttempts afresh when Run starts again.
	MaxAttempts int
	// BaseBackoff and MaxBackoff bound the wait after a failed attempt:
	// after the nth, a uniformly random duration between zero and
	// min(MaxBackoff, BaseBackoff·2ⁿ⁻¹) ("full jitter"). A Retry-After
	// header (seconds, or an HTTP date read against Now) replaces the
	// random wait, up to MaxBackoff. Zero means DefaultBaseBackoff and
	// DefaultMaxBackoff. With the defaults, ten attempts span about 21
	// minutes on average, 43 at most.
	BaseBackoff, MaxBackoff time.Duration
	// PollInterval is the longest Run waits for the outbox's wake-up
	// (outbox.Reader.Wait) before it reads again, in case one is missed;
	// zero means DefaultPollInterval.
	PollInterval time.Duration
	// Types, if not empty, are the only event types delivered: Run
	// acknowledges events of other types without sending them.
	Types []outbox.Type
	// DeadLetters keeps the events given up on: pass the store's
	// (store.DeadLetters()), which keeps them as long as the outbox. nil
	// means outbox.NewMemoryDeadLetters(), which loses them when the
	// process stops.
	DeadLetters outbox.DeadLetters
	// Logger receives a line per failed attempt, dead letter and outbox
	// error, and one per delivery at debug level; nil means no logging.
	// No line holds a body, a secret or the URL (an error may name the
	// endpoint's host and port).
	Logger *slog.Logger
	// Observer, if not nil, is told after each page of events how far
	// behind the endpoint is: the notice "outbox.lag" with the consumer
	// and the age, in seconds, of the last event settled.
	Observer giftkit.Observer
	// Now returns the current time: the webhook-timestamp of each
	// attempt, an HTTP-date Retry-After and the lag of [Stats]. Required:
	// the library never reads the clock itself (pass time.Now).
	Now func() time.Time
	// Rand is the source of the backoff's jitter; nil means crypto/rand.
	// Only Run reads it.
	Rand io.Reader
	// Sleep waits d, or until ctx is done (then it returns ctx's error);
	// nil means a timer. Run waits with it between attempts and after an
	// outbox error. Tests replace it to observe the waits without
	// waiting.
	Sleep func(ctx context.Context, d time.Duration) error
	// UserAgent is the User-Agent of the requests; "" means
	// DefaultUserAgent.
	UserAgent string
}

// A Dispatcher delivers one consumer's outbox events to one endpoint, by
// [Dispatcher.Run], and lets an operator send again what was lost
// ([Dispatcher.Replay], [Dispatcher.Redeliver]). It sends one request at a
// time. It is safe for concurrent use; Run runs once at a time.
type Dispatcher struct {
	cfg    Config
	types  map[outbox.Type]bool
	signer *Signer
	client *http.Client
	log    *slog.Logger

	running atomic.Bool
	sendMu  sync.Mutex    // held for each request, so one endpoint gets one at a time
	kick    chan struct{} // wakes Run's wait when Redeliver is called

	mu        sync.Mutex // guards what follows
	stats     Stats
	currentAt time.Time // the At of the event being delivered; zero when caught up
	rewind    int64     // where Redeliver asked Run to read from; -1 when it did not
}

// NewDispatcher returns a Dispatcher for cfg. It fails with
// ErrInvalidConfig when a required field is missing or a field is out of
// range, and with ErrInvalidSecret for a zero Secret.
func NewDispatcher(cfg Config) (*Dispatcher, error) {
	bad := func(format string, args ...any) (*Dispatcher, error) {
		return nil, fmt.Errorf("webhook: %w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case cfg.Reader == nil:
		return bad("Reader is required")
	case cfg.Now == nil:
		return bad("Now is required (pass time.Now)")
	case cfg.Timeout < 0, cfg.BaseBackoff < 0, cfg.MaxBackoff < 0, cfg.PollInterval < 0:
		return bad("negative duration")
	case cfg.MaxAttempts < 0:
		return bad("negative MaxAttempts")
	}
	if err := outbox.CheckConsumer(cfg.Consumer); err != nil {
		return bad("Consumer: %v", err)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("URL must be an absolute http or https URL")
	}
	signer, err := NewSigner(cfg.Secrets...)
	if err != nil {
		return nil, err
	}
	cfg.Secrets = append([]Secret(nil), cfg.Secrets...)
	cfg.Timeout = orDefault(cfg.Timeout, DefaultTimeout)
	cfg.BaseBackoff = orDefault(cfg.BaseBackoff, DefaultBaseBackoff)
	cfg.MaxBackoff = orDefault(cfg.MaxBackoff, DefaultMaxBackoff)
	cfg.PollInterval = orDefault(cfg.PollInterval, DefaultPollInterval)
	cfg.MaxAttempts = orDefault(cfg.MaxAttempts, DefaultMaxAttempts)
	cfg.UserAgent = orDefault(cfg.UserAgent, DefaultUserAgent)
	if cfg.BaseBackoff > cfg.MaxBackoff {
		return bad("BaseBackoff %v is more than MaxBackoff %v", cfg.BaseBackoff, cfg.MaxBackoff)
	}
	if cfg.DeadLetters == nil {
		cfg.DeadLetters = outbox.NewMemoryDeadLetters()
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	d := &Dispatcher{cfg: cfg, signer: signer, kick: make(chan struct{}, 1), rewind: -1}
	if len(cfg.Types) > 0 {
		d.types = make(map[outbox.Type]bool, len(cfg.Types))
		for _, t := range cfg.Types {
			d.types[t] = true
		}
		d.cfg.Types = append([]outbox.Type(nil), cfg.Types...)
	}
	if cfg.Client != nil {
		c := *cfg.Client
		d.client = &c
	} else {
		d.client = &http.Client{Timeout: cfg.Timeout}
	}
	d.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	d.log = cfg.Logger
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.log = d.log.With("consumer", cfg.Consumer)
	return d, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats is a snapshot of a dispatcher, for monitoring. Counts are since
// the Dispatcher was made.
type Stats struct {
	Running        bool  // Run is running
	Delivered      int64 // events delivered (a 2xx answer) by Run or Replay
	Skipped        int64 // events acknowledged without sending, their type not in Config.Types
	FailedAttempts int64 // attempts that got no 2xx answer
	DeadLettered   int64 // events Run gave up on
	// Cursor is the position of the last event Run settled (delivered,
	// skipped or made a dead letter); it is acknowledged in the outbox, or
	// about to be.
	Cursor int64
	// Lag is how far behind the endpoint is: Now minus the At of the
	// oldest event read and not yet settled (the one being delivered or
	// retried); zero when Run has settled every event of its last read.
	// Events committed since that read are not counted until Run reads
	// them, which it does as soon as it is free.
	Lag time.Duration
	// Attempts is how many times the event being delivered has failed so
	// far; zero when none is failing.
	Attempts int
	// RetryAt is when the failing event is tried next, by Config.Now;
	// zero when none is waiting.
	RetryAt time.Time
	// LastStatus and LastError describe the last failed attempt, of any
	// event: its HTTP status (0 for none) and what went wrong.
	LastStatus int
	LastError  string
}

// Stats returns a snapshot of d.
func (d *Dispatcher) Stats() Stats {
	d.mu.Lock()
	s, at := d.stats, d.currentAt
	d.mu.Unlock()
	s.Running = d.running.Load()
	if !at.IsZero() {
		s.Lag = max(d.cfg.Now().Sub(at), 0)
	}
	return s
}

func (d *Dispatcher) update(f func(s *Stats)) {
	d.mu.Lock()
	f(&d.stats)
	d.mu.Unlock()
}

// DeadLetters returns up to limit of the dispatcher's dead letters whose
// event's Pos is after after, in order of Pos.
func (d *Dispatcher) DeadLetters(ctx context.Context, after int64, limit int) ([]outbox.DeadLetter, error) {
	return d.cfg.DeadLetters.List(ctx, d.cfg.Consumer, after, limit)
}

// Run delivers the consumer's events, from its cursor in the outbox
// (outbox.Reader.Cursor), until ctx is done; then it returns ctx's error.
//
// Events go one at a time, in the order of the outbox, and each is
// acknowledged (outbox.Reader.Ack) once the endpoint answers it with a
// 2xx status. An event that fails is retried, after a backoff (see
// Config.BaseBackoff), up to Config.MaxAttempts times, and the events
// after it wait: an endpoint that is down holds back everything after the
// event it failed on, so it never receives an event before one that came
// before it. An event that fails every attempt becomes a dead letter
// (Config.DeadLetters) and is acknowledged, and Run goes on with the next.
//
// An endpoint that answers 410 Gone asked not to be sent anything more:
// Run makes that event a dead letter at once, acknowledges it, and returns
// a [*DeliveryError] that unwraps to ErrGone. The events after it stay in
// the outbox, unacknowledged (so not pruned), until the host runs the
// dispatcher again or gives up the consumer.
//
// When it has delivered everything, Run waits for the outbox to wake it
// (outbox.Reader.Wait), or for Config.PollInterval. An outbox error is
// logged and retried after a backoff. A second Run while one is running
// returns ErrRunning.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return fmt.Errorf("webhook: consumer %q: %w", d.cfg.Consumer, ErrRunning)
	}
	defer d.running.Store(false)
	defer d.setCurrent(time.Time{})

	var acked int64
	for failures := 1; ; failures++ {
		c, err := d.cfg.Reader.Cursor(ctx, d.cfg.Consumer)
		if err == nil {
			acked = c
			break
		}
		if err := d.outboxFailed(ctx, "cursor", err, failures); err != nil {
			return err
		}
	}
	d.update(func(s *Stats) { s.Cursor = acked })
	// pos is where the next read starts; settled is the last position
	// settled, which Redeliver may leave ahead of pos; acked is the last
	// one acknowledged, which a failed Ack may leave behind settled.
	pos, settled := acked, acked
	ack := func() error {
		if acked >= settled {
			return nil
		}
		if err := d.cfg.Reader.Ack(ctx, d.cfg.Consumer, settled); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The next Ack covers this one: a cursor only moves
			// forward, to the position it is given.
			d.log.Warn("webhook: outbox ack failed", "pos", settled, "error", err)
			return nil
		}
		acked = settled
		return nil
	}
	readFailures := 0
	var lastAt time.Time // the time of the last event settled, for the lag
	for {
		if from := d.takeRewind(); from >= 0 && from < pos {
			d.log.Info("webhook: redelivering", "after", from, "until", settled)
			pos = from
		}
		events, err := d.cfg.Reader.Events(ctx, d.cfg.Consumer, pos, pageSize)
		if err != nil {
			readFailures++
			if err := d.outboxFailed(ctx, "read", err, readFailures); err != nil {
				return err
			}
			continue
		}
		readFailures = 0
		if len(events) == 0 {
			d.setCurrent(time.Time{})
			if err := ack(); err != nil {
				return err
			}
			if err := d.wait(ctx, pos); err != nil {
				return err
			}
			continue
		}
		for _, e := range events {
			if d.rewindPending() {
				break
			}
			d.setCurrent(e.At)
			sent, err := d.settle(ctx, e)
			if err != nil && !errors.Is(err, ErrGone) {
				return err
			}
			pos = e.Pos
			settled = max(settled, e.Pos)
			lastAt = e.At
			d.update(func(s *Stats) { s.Cursor = settled })
			if err != nil { // gone: the event is a dead letter
				if ackErr := ack(); ackErr != nil {
					return ackErr
				}
				return err
			}
			if sent {
				if err := ack(); err != nil {
					return err
				}
			}
		}
		// Skipped events are acknowledged a page at a time.
		if err := ack(); err != nil {
			return err
		}
		if d.cfg.Observer != nil && !lastAt.IsZero() {
			d.cfg.Observer.Notice(ctx, "outbox.lag", slog.String("consumer", d.cfg.Consumer),
				slog.Float64("seconds", max(d.cfg.Now().Sub(lastAt), 0).Seconds()))
		}
	}
}

// outboxFailed logs a failed call to the outbox and waits before the
// next; it returns ctx's error if ctx is done.
func (d *Dispatcher) outboxFailed(ctx context.Context, op string, err error, failures int) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	delay := d.backoff(failures)
	d.log.Warn("webhook: outbox "+op+" failed", "error", err, "retry_in", delay)
	return d.cfg.Sleep(ctx, delay)
}

// wait waits for an event after pos, for PollInterval, or for Redeliver.
func (d *Dispatcher) wait(ctx context.Context, pos int64) error {
	wctx, cancel := context.WithTimeout(ctx, d.cfg.PollInterval)
	defer cancel()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-d.kick:
			cancel()
		case <-wctx.Done():
		}
	}()
	err := d.cfg.Reader.Wait(wctx, pos)
	cancel()
	<-watched // so that no watcher outlives its wait and takes the next kick
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && wctx.Err() == nil {
		return d.outboxFailed(ctx, "wait", err, 1)
	}
	return nil
}

func (d *Dispatcher) setCurrent(at time.Time) {
	d.mu.Lock()
	d.currentAt = at
	d.mu.Unlock()
}

// settle delivers e, skips it or makes it a dead letter. It reports
// whether it sent e (or made it a dead letter), which calls for an Ack at
// once. It fails with ctx's error, leaving e unsettled, or with a
// DeliveryError (ErrGone), e then a dead letter.
func (d *Dispatcher) settle(ctx context.Context, e outbox.Event) (bool, error) {
	if d.types != nil && !d.types[e.Type] {
		d.update(func(s *Stats) { s.Skipped++ })
		return false, nil
	}
	log := d.log.With("event_id", e.ID, "type", e.Type, "pos", e.Pos)
	body, err := d.body(e)
	if err != nil {
		log.Error("webhook: event cannot be sent: dead letter", "error", err)
		return true, d.putDeadLetter(ctx, outbox.DeadLetter{Event: e, Error: err.Error(), At: d.cfg.Now()})
	}
	for attempt := 1; ; attempt++ {
		res := d.attempt(ctx, e.ID, body)
		if ctx.Err() != nil {
			// Shutting down: the attempt does not count, and e
			// is read again by the next Run.
			return false, ctx.Err()
		}
		if res.ok() {
			d.update(func(s *Stats) { s.Delivered++; s.Attempts = 0; s.RetryAt = time.Time{} })
			log.Debug("webhook: delivered", "attempt", attempt, "status", res.status)
			return true, nil
		}
		d.update(func(s *Stats) {
			s.FailedAttempts++
			s.Attempts, s.LastStatus, s.LastError = attempt, res.status, res.text()
		})
		gone := res.status == http.StatusGone
		if gone || attempt >= d.cfg.MaxAttempts {
			log.Error("webhook: delivery failed: dead letter", "attempt", attempt, "status", res.status, "error", res.text())
			l := outbox.DeadLetter{Event: e, Attempts: attempt, Status: res.status, Error: res.text(), At: res.at}
			if err := d.putDeadLetter(ctx, l); err != nil {
				return false, err
			}
			d.update(func(s *Stats) { s.Attempts = 0; s.RetryAt = time.Time{} })
			if gone {
				return true, &DeliveryError{Consumer: d.cfg.Consumer, EventID: e.ID, Attempts: attempt, Status: res.status, Err: ErrGone}
			}
			return true, nil
		}
		delay := d.backoff(attempt)
		if res.hasRetryAfter {
			delay = min(res.retryAfter, d.cfg.MaxBackoff)
		}
		d.update(func(s *Stats) { s.RetryAt = res.at.Add(delay) })
		log.Warn("webhook: delivery failed", "attempt", attempt, "status", res.status, "error", res.text(), "retry_in", delay)
		if err := d.cfg.Sleep(ctx, delay); err != nil {
			return false, err
		}
	}
}

// putDeadLetter stores l for d's consumer, retrying until it is stored or
// ctx is done: the event is acknowledged only once its dead letter is
// kept.
func (d *Dispatcher) putDeadLetter(ctx context.Context, l outbox.DeadLetter) error {
	l.Consumer = d.cfg.Consumer
	for failures := 1; ; failures++ {
		err := d.cfg.DeadLetters.Put(ctx, l)
		if err == nil {
			d.update(func(s *Stats) { s.DeadLettered++ })
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		delay := d.backoff(failures)
		d.log.Warn("webhook: storing dead letter failed", "event_id", l.Event.ID, "error", err, "retry_in", delay)
		if err := d.cfg.Sleep(ctx, delay); err != nil {
			return err
		}
	}
}

// body returns the body of e's webhook, or why it cannot have one.
func (d *Dispatcher) body(e outbox.Event) ([]byte, error) {
	if !validID(e.ID) {
		return nil, fmt.Errorf("event ID is not a valid %s", HeaderID)
	}
	body, err := encodeBody(e)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return body, nil
}

// backoff returns the wait after the nth failure: a random duration
// between zero and min(MaxBackoff, BaseBackoff·2ⁿ⁻¹).
func (d *Dispatcher) backoff(n int) time.Duration {
	ceiling := d.cfg.BaseBackoff
	for i := 1; i < n && ceiling < d.cfg.MaxBackoff; i++ {
		if ceiling > d.cfg.MaxBackoff/2 { // doubling would pass the cap, or overflow
			ceiling = d.cfg.MaxBackoff
			break
		}
		ceiling *= 2
	}
	ceiling = min(ceiling, d.cfg.MaxBackoff)
	return jitter(d.cfg.Rand, ceiling)
}

// jitter returns a uniformly random duration in [0, ceiling] read from r;
// ceiling itself if r fails.
func jitter(r io.Reader, ceiling time.Duration) time.Duration {
	if ceiling <= 0 {
		return 0
	}
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return ceiling
	}
	// A 64-bit draw reduced modulo ceiling+1 (at most about 2⁶³ ns) is
	// biased by less than one part in 2⁶⁴/ceiling: none that matters here.
	return time.Duration(binary.BigEndian.Uint64(b[:]) % (uint64(ceiling) + 1))
}

// result is the outcome of one attempt.
type result struct {
	at            time.Time // when it was made
	status        int       // the HTTP status; 0 if none came
	err           error     // why no status came
	timeout       time.Duration
	retryAfter    time.Duration
	hasRetryAfter bool
}

func (r result) ok() bool { return r.err == nil && r.status >= 200 && r.status <= 299 }

// text says what went wrong, without the URL or the body.
func (r result) text() string {
	switch {
	case r.err == nil && r.status >= 300 && r.status <= 399:
		return "status " + strconv.Itoa(r.status) + " (redirects are not followed)"
	case r.err == nil:
		return "status " + strconv.Itoa(r.status)
	case r.timeout > 0:
		return "timed out after " + r.timeout.String()
	}
	return r.err.Error()
}

// attempt sends one request with e's id and body, signed now.
func (d *Dispatcher) attempt(ctx context.Context, id string, body []byte) result {
	d.sendMu.Lock()
	defer d.sendMu.Unlock()
	res := result{at: d.cfg.Now()}
	actx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, d.cfg.URL, bytes.NewReader(body))
	if err != nil {
		res.err = err
		return res
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.cfg.UserAgent)
	if err := d.signer.Sign(req.Header, id, res.at, body); err != nil {
		res.err = err
		return res
	}
	resp, err := d.client.Do(req)
	if err != nil {
		res.err = withoutURL(err)
		var ne net.Error
		if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()) {
			res.timeout = d.cfg.Timeout
		}
		return res
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseDrain))
	resp.Body.Close()
	res.status = resp.StatusCode
	if v := resp.Header.Get("Retry-After"); v != "" {
		res.retryAfter, res.hasRetryAfter = parseRetryAfter(v, res.at)
	}
	return res
}

// withoutURL returns err without the *url.Error around it, whose message
// holds the URL (which may carry a token).
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// parseRetryAfter reads a Retry-After header: a number of seconds, or an
// HTTP date, which is read against now. A date in the past means no wait.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// Replay sends the dead letter of event eventID again now, once, and
// deletes it when the endpoint answers with a 2xx status. It is for an
// operator who fixed what made the event fail; it runs beside Run (it
// does not wait for Run's backlog, so the endpoint receives the event out
// of order, as a dead letter already is).
//
// It fails with outbox.ErrDeadLetterNotFound (kind giftkit.ErrNotFound) when the
// consumer has no such dead letter, and with a [*DeliveryError] that
// unwraps to ErrDeliveryFailed or ErrGone when the attempt fails; the dead
// letter then counts the attempt and keeps its outcome.
func (d *Dispatcher) Replay(ctx context.Context, eventID string) error {
	l, err := d.cfg.DeadLetters.Get(ctx, d.cfg.Consumer, eventID)
	if err != nil {
		return err
	}
	body, err := d.body(l.Event)
	if err != nil {
		return fmt.Errorf("webhook: replay %s: %w: %v", eventID, giftkit.ErrInvalid, err)
	}
	res := d.attempt(ctx, l.Event.ID, body)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if res.ok() {
		d.update(func(s *Stats) { s.Delivered++ })
		d.log.Info("webhook: dead letter replayed", "event_id", eventID, "status", res.status)
		return d.cfg.DeadLetters.Delete(ctx, d.cfg.Consumer, eventID)
	}
	d.update(func(s *Stats) { s.FailedAttempts++; s.LastStatus, s.LastError = res.status, res.text() })
	l.Attempts++
	l.Status, l.Error, l.At = res.status, res.text(), res.at
	if err := d.cfg.DeadLetters.Put(ctx, l); err != nil {
		return err
	}
	de := &DeliveryError{Consumer: d.cfg.Consumer, EventID: eventID, Attempts: l.Attempts, Status: res.status, Cause: res.err, Err: ErrDeliveryFailed}
	if res.status == http.StatusGone {
		de.Err = ErrGone
	}
	return de
}

// Redeliver makes Run send again, in order, every event still in the
// outbox after position after: for an endpoint that lost what it had
// received. Run does so as soon as the event it is delivering is settled,
// then goes on with the events it had not sent yet, so the endpoint
// receives the events again in their order before any new one. Delivery
// works as usual (retries, dead letters, Types); events that are already
// dead letters stay so until replayed.
//
// Redeliver only records the position, in memory: it returns at once, it
// takes effect when Run next starts if Run is not running, and it is lost
// if the process stops first. Two calls before Run acts on them redeliver
// from the earlier position. A position at or after the last event Run
// settled changes nothing. Events the outbox has pruned are not sent (the
// outbox skips them without saying so). It fails with giftkit.ErrInvalid
// for a negative position.
func (d *Dispatcher) Redeliver(after int64) error {
	if after < 0 {
		return fmt.Errorf("webhook: redeliver after %d: %w: negative position", after, giftkit.ErrInvalid)
	}
	d.mu.Lock()
	if d.rewind < 0 || after < d.rewind {
		d.rewind = after
	}
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
	return nil
}

// takeRewind returns the position Redeliver asked for and forgets it; -1
// if none.
func (d *Dispatcher) takeRewind() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.rewind
	d.rewind = -1
	return r
}

func (d *Dispatcher) rewindPending() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rewind >= 0
}
