package pgstore

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"

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
// with BEGIN, its writes with COMMIT, folded into one statement (see
// fold).
//
// A write's failure (a constraint violated) is reported by the statement
// it travels with, or by the commit: the unit fails either way, and nothing
// of it is committed.

const beginSQL = "BEGIN ISOLATION LEVEL READ COMMITTED"

// pendingWrite is a write waiting to be sent, with the check of its result.
type pendingWrite struct {
	op    string
	check func(pgconn.CommandTag) error // nil: any result will do
	// row names the one existing row the write may change (see rowKey),
	// or is "" for a write that only adds rows.
	row string
	// sql is one statement, without WITH, its parameters numbered from $1;
	// more, if not "", a second whose parameters follow sql's (the unit's
	// log: its events after its records).
	sql, more string
	args      []any
	// alone marks a statement that is not a write (a savepoint's), which
	// goes on its own.
	alone bool
}

// write queues a write of the existing row named row ("" if it only adds
// rows); check, if not nil, inspects its result when sent.
func (t *Tx) write(op, row string, check func(pgconn.CommandTag) error, sql string, args ...any) error {
	if err := t.usable(op); err != nil {
		return err
	}
	if t.pending == nil {
		t.pending = make([]pendingWrite, 0, foldMax) // a redemption's or a payment's writes, without growing
	}
	t.pending = append(t.pending, pendingWrite{op: op, check: check, row: row, sql: sql, args: args})
	return nil
}

// statement queues a statement that is not a write, such as a savepoint's,
// to go with the unit's next round trip.
func (t *Tx) statement(op, sql string) error {
	if err := t.usable(op); err != nil {
		return err
	}
	t.pending = append(t.pending, pendingWrite{op: op, sql: sql, alone: true})
	return nil
}

// rowKey names a row for pendingWrite.row: its table's letter, then each
// part of its key after its length, so that no two rows share a name
// whatever the parts hold.
func rowKey(table byte, parts ...string) string {
	n := 1
	for _, p := range parts {
		n += binary.MaxVarintLen64 + len(p)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte(table)
	for _, p := range parts {
		var size [binary.MaxVarintLen64]byte
		b.Write(binary.AppendUvarint(size[:0], uint64(len(p))))
		b.WriteString(p)
	}
	return b.String()
}

// sentWrites are the writes one statement of a round trip carries: one
// write, or several folded into one statement (see fold).
type sentWrites []pendingWrite

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
		t.appendLog.seal(t)
		t.appendLog = nil
	}
	sent := fold(b, t.pending)
	fetchAhead := t.ahead != nil && !t.ahead.fetched
	if fetchAhead {
		t.ahead.queue(b)
	}
	if queue != nil {
		queue(b)
	}
	br := t.conn.SendBatch(t.ctx, b)
	began := !t.begun
	t.begun = true
	t.pending = t.pending[:0:0]
	if err := t.consumeSent(br, began, sent); err != nil {
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
func (t *Tx) consumeSent(br pgx.BatchResults, began bool, sent []sentWrites) error {
	if began {
		if _, err := br.Exec(); err != nil {
			// pgconn knows whether nothing reached the server: the
			// connection was dead before the unit began.
			t.unsent = pgconn.SafeToRetry(err)
			return translate("begin", err)
		}
	}
	for _, ws := range sent {
		tag, err := br.Exec()
		if err != nil {
			return translate(ws.op(err), err)
		}
		if len(ws) == 1 && ws[0].check != nil {
			if err := ws[0].check(tag); err != nil {
				return err
			}
		}
	}
	return nil
}

// op names what failed when the statement that carries ws failed with
// err: the write whose table the server's error names, or else all of
// them.
func (ws sentWrites) op(err error) string {
	if len(ws) == 1 {
		return ws[0].op
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.TableName != "" {
		for _, w := range ws {
			if writesTable(w.sql, pg.TableName) || writesTable(w.more, pg.TableName) {
				return w.op
			}
		}
	}
	var ops []string
	for _, w := range ws {
		if !slices.Contains(ops, w.op) {
			ops = append(ops, w.op)
		}
	}
	return strings.Join(ops, ", ")
}

// writesTable reports whether the write statement sql names table (after
// INTO, UPDATE or FROM).
func writesTable(sql, table string) bool {
	for _, before := range []string{"INTO ", "UPDATE ", "FROM "} {
		i := strings.Index(sql, before+table)
		if i < 0 {
			continue
		}
		end := i + len(before) + len(table)
		if end == len(sql) || !(sql[end] == '_' || sql[end] >= 'a' && sql[end] <= 'z' || sql[end] >= '0' && sql[end] <= '9') {
			return true
		}
	}
	return false
}

// A unit's writes queued together go to the server in as few statements
// as keep their meaning: fold joins each run of them into one statement,
// a data-modifying WITH whose parts are the writes' statements (the
// server then runs, checks and records one statement where it would run
// several: the per-statement work, not the rows, is most of what a
// redemption's writes cost). The parts of one statement all see the
// database as it was before it, and the foreign keys and triggers that
// check them run as they would for the writes one after the other: at the
// end of the statement (foreign keys) or on each row (triggers, CHECKs),
// on rows no other part has touched. What would differ is two writes of
// one row, which one statement refuses or skips: a write of a row that
// one before it in the run changed starts a new statement, and so does a
// write whose result is checked (see write), which goes alone. A run has
// at most foldMax writes, and its statements are kept in foldedSQL, one
// per sequence of parts, so that the server prepares each once per
// connection.
const foldMax = 8

// foldedMax bounds the statements that folded keeps.
const foldedMax = 1024

// fold queues writes on b, as few statements as keep their meaning (see
// above), and returns what each statement carries.
func fold(b *pgx.Batch, writes []pendingWrite) []sentWrites {
	var sent []sentWrites
	for len(writes) > 0 {
		n := 1
		if writes[0].check == nil && !writes[0].alone {
		run:
			for n < len(writes) && n < foldMax && writes[n].check == nil && !writes[n].alone {
				if row := writes[n].row; row != "" {
					for _, w := range writes[:n] {
						if w.row == row {
							break run
						}
					}
				}
				n++
			}
		}
		run := writes[:n]
		writes = writes[n:]
		sent = append(sent, sentWrites(run))
		if len(run) == 1 && run[0].more == "" {
			b.Queue(run[0].sql, run[0].args...)
			continue
		}
		n = 0
		for _, w := range run {
			n += len(w.args)
		}
		args := make([]any, 0, n)
		for _, w := range run {
			args = append(args, w.args...)
		}
		b.Queue(foldedSQL(run), args...)
	}
	return sent
}

// folded keeps the statements fold made, by the sequence of their parts;
// at most foldedMax, after which it starts again (the units of a service
// make a few dozen sequences; pgx's statement cache keeps what the server
// prepared for each connection).
var folded struct {
	sync.Mutex
	ids   map[string]uint32 // each part's number
	stmts map[string]string // by the numbers of their parts, and of their writes' parameters
}

// foldedSQL returns the statement that runs the writes' statements as
// parts of one data-modifying WITH, each write's parameters renumbered
// after the previous write's.
func foldedSQL(writes []pendingWrite) string {
	folded.Lock()
	defer folded.Unlock()
	if folded.ids == nil || len(folded.stmts) >= foldedMax {
		folded.ids, folded.stmts = map[string]uint32{}, map[string]string{}
	}
	id := func(sql string) uint32 {
		n, ok := folded.ids[sql]
		if !ok {
			n = uint32(len(folded.ids))
			folded.ids[sql] = n
		}
		return n
	}
	var buf [64]byte
	key := buf[:0]
	for _, w := range writes {
		key = binary.AppendUvarint(key, uint64(id(w.sql)))
		key = binary.AppendUvarint(key, uint64(len(w.args))) // where the next write's parameters begin
		if w.more != "" {
			key = binary.AppendUvarint(key, uint64(id(w.more))+1)
		} else {
			key = append(key, 0)
		}
	}
	if sql, ok := folded.stmts[string(key)]; ok {
		return sql
	}
	var parts []string
	offset := 0
	for _, w := range writes {
		parts = append(parts, renumber(w.sql, offset))
		if w.more != "" {
			parts = append(parts, renumber(w.more, offset))
		}
		offset += len(w.args)
	}
	var sql strings.Builder
	sql.WriteString("WITH ")
	for i, p := range parts[:len(parts)-1] {
		if i > 0 {
			sql.WriteString(", ")
		}
		sql.WriteString("w" + strconv.Itoa(i+1) + " AS (" + p + ")")
	}
	sql.WriteString(" " + parts[len(parts)-1])
	folded.stmts[string(key)] = sql.String()
	return sql.String()
}

// renumber adds offset to the number of each parameter ($1, $2, ...) in
// sql, which has no dollar sign elsewhere.
func renumber(sql string, offset int) string {
	if offset == 0 {
		return sql
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(sql, '$')
		if i < 0 {
			b.WriteString(sql)
			return b.String()
		}
		j := i + 1
		for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
			j++
		}
		n, _ := strconv.Atoi(sql[i+1 : j])
		b.WriteString(sql[:i+1])
		b.WriteString(strconv.Itoa(n + offset))
		sql = sql[j:]
	}
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
		c, found, err := scanCard("card by hash", br)
		if err != nil {
			return err
		}
		a.hasCard = true
		if found {
			a.card = &c
			t.locked(c)
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
		for c := range accounts {
			t.lockedAccount(a.want.Owner, c)
		}
	}
	return nil
}
