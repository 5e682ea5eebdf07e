package pgstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// A unit of work talks to the server in as few round trips as its
// statements allow. BEGIN goes with the unit's first statement; writes wait
// for the next read or for the COMMIT, and go in the same round trip; the
// rows named by a giftkit.ReadAhead go with the first read. A unit that
// reads ahead (a redemption, a payment) takes two round trips: its reads
// with BEGIN, its writes with COMMIT.
//
// A write's failure (a constraint violated) is reported by the statement
// it travels with, or by the commit: the unit fails either way, and nothing
// of it is committed.

const beginSQL = "BEGIN ISOLATION LEVEL READ COMMITTED"

// pendingWrite is a write waiting to be sent, with the check of its result.
type pendingWrite struct {
	op    string
	check func(pgconn.CommandTag) error // nil: any result will do
}

// write queues a write; check, if not nil, inspects its result when sent.
func (t *Tx) write(op string, check func(pgconn.CommandTag) error, sql string, args ...any) error {
	if err := t.usable(op); err != nil {
		return err
	}
	t.writes.Queue(sql, args...)
	t.pending = append(t.pending, pendingWrite{op, check})
	return nil
}

// send sends BEGIN if the unit has not begun, the queued writes, the rows
// to read ahead if not fetched yet, and the statements queue adds, in one
// round trip. It returns the results positioned at queue's first
// statement; the caller reads them and closes the results.
func (t *Tx) send(op string, queue func(*pgx.Batch)) (pgx.BatchResults, error) {
	if err := t.usable(op); err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	if !t.begun {
		b.Queue(beginSQL)
	}
	if t.appendLog != nil { // no more records or events join it
		t.appendLog.seal()
		t.appendLog = nil
	}
	b.QueuedQueries = append(b.QueuedQueries, t.writes.QueuedQueries...)
	fetchAhead := t.ahead != nil && !t.ahead.fetched
	if fetchAhead {
		t.ahead.queue(b)
	}
	if queue != nil {
		queue(b)
	}
	br := t.conn.SendBatch(t.ctx, b)
	began := !t.begun
	t.begun, t.writes = true, pgx.Batch{}
	pending := t.pending
	t.pending = nil
	if err := t.consumeSent(br, began, pending); err != nil {
		_ = br.Close()
		return nil, err
	}
	if fetchAhead {
		if err := t.ahead.scan(t, br); err != nil {
			_ = br.Close()
			return nil, err
		}
	}
	return br, nil
}

// consumeSent reads the results of BEGIN and of the writes sent.
func (t *Tx) consumeSent(br pgx.BatchResults, began bool, pending []pendingWrite) error {
	if began {
		if _, err := br.Exec(); err != nil {
			// pgconn knows whether nothing reached the server: the
			// connection was dead before the unit began.
			t.unsent = pgconn.SafeToRetry(err)
			return translate("begin", err)
		}
	}
	for _, w := range pending {
		tag, err := br.Exec()
		if err != nil {
			return translate(w.op, err)
		}
		if w.check != nil {
			if err := w.check(tag); err != nil {
				return err
			}
		}
	}
	return nil
}

// commit sends the queued writes and COMMIT in one round trip; nothing at
// all if the unit neither read nor wrote. A write's failure means nothing
// was committed (and may be retried, see translate); a failure of COMMIT
// itself leaves the outcome unknown.
func (t *Tx) commit() error {
	if !t.begun && len(t.pending) == 0 {
		return nil
	}
	// A write whose result is checked (it may affect no row without an
	// error) goes before COMMIT, in a round trip of its own: the check must
	// be able to stop the commit.
	for _, w := range t.pending {
		if w.check != nil {
			br, err := t.send("commit", nil)
			if err != nil {
				return err
			}
			if err := br.Close(); err != nil {
				return translate("commit", err)
			}
			break
		}
	}
	br, err := t.send("commit", func(b *pgx.Batch) { b.Queue("COMMIT") })
	if err != nil {
		return err
	}
	_, err = br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		return nil
	}
	e := translate("commit", err)
	var pe *Error
	if errors.As(e, &pe) && !pe.retry {
		pe.Err = ErrUnavailable // the outcome of a failed commit is unknown
	}
	return e
}

// rollback ends a unit that failed, so the connection goes back clean.
func (t *Tx) rollback() {
	if t.begun && !t.conn.IsClosed() {
		_, _ = t.conn.Exec(context.WithoutCancel(t.ctx), "ROLLBACK")
	}
}

// ahead is what a unit reads ahead (see giftkit.ReadAhead) and, once
// fetched, what it found. A row read ahead is served once: a later read of
// it, or any read after the unit wrote it, goes to the server.
type ahead struct {
	want    giftkit.ReadAhead
	fetched bool

	record    *giftkit.IdempotencyRecord // nil: none
	hasRecord bool                       // the record was fetched and not yet served
	card      *giftcard.Card
	hasCard   bool
	accounts  map[giftkit.Currency]wallet.Account // the owner's, as fetched
	spent     map[giftkit.Currency]bool           // accounts served or written since
	payment   []byte                              // the payment's row; nil: none
	hasPay    bool
}

// served reports whether the owner's account in c was served or written.
func (a *ahead) served(c giftkit.Currency) bool { return a.spent[c] }

// serve marks the owner's account in c as served or written: later reads
// go to the server.
func (a *ahead) serve(c giftkit.Currency) {
	if a.spent == nil {
		a.spent = map[giftkit.Currency]bool{}
	}
	a.spent[c] = true
}

// ReadAhead implements giftkit.ReadAheader: the rows are fetched, and
// locked, with the unit's first statement.
func (t *Tx) ReadAhead(r giftkit.ReadAhead) {
	if t.begun || t.done {
		return // too late to save a round trip
	}
	t.ahead = &ahead{want: r}
}

// fetchAhead sends the unit's first round trip, which fetches the rows to
// read ahead, if it has not been sent: a read of one of those rows is then
// served from them, rather than sent beside them and read twice.
func (t *Tx) fetchAhead(op string) error {
	if t.ahead == nil || t.ahead.fetched {
		return nil
	}
	br, err := t.send(op, nil)
	if err != nil {
		return err
	}
	return closeResults(op, br, nil)
}

func (a *ahead) queue(b *pgx.Batch) {
	if a.want.Key != "" {
		b.Queue(idempotencySQL, a.want.Scope, a.want.Key)
	}
	if a.want.HasCard {
		b.Queue(cardSQL+"hash = $1 FOR UPDATE", a.want.CardHash[:])
	}
	if a.want.Payment != "" {
		b.Queue(paymentSQL, a.want.Payment)
	}
	if a.want.Owner != "" {
		b.Queue(ownerAccountsSQL, a.want.Owner)
	}
}

func (a *ahead) scan(t *Tx, br pgx.BatchResults) error {
	a.fetched = true
	if a.want.Key != "" {
		r, found, err := scanIdempotency(br.QueryRow(), a.want.Scope, a.want.Key)
		if err != nil {
			return err
		}
		a.hasRecord = true
		if found {
			a.record = &r
		}
	}
	if a.want.HasCard {
		c, found, err := scanCard("card by hash", br.QueryRow())
		if err != nil {
			return err
		}
		a.hasCard = true
		if found {
			a.card = &c
		}
	}
	if a.want.Payment != "" {
		var data []byte
		if err := br.QueryRow().Scan(&data); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return translate("payment", err)
		}
		a.payment, a.hasPay = data, true
	}
	if a.want.Owner != "" {
		accounts, err := scanAccounts(br, a.want.Owner)
		if err != nil {
			return err
		}
		a.accounts = accounts
	}
	return nil
}
