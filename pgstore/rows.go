package pgstore

import (
	"encoding/binary"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// A redemption and a payment read a card's row and an account's on every
// call. They are decoded here from the bytes pgx received, in the formats
// it asked for (binary for integers, booleans, bytea and timestamptz; text
// for text and jsonb), without building pgx's scan plans for each query;
// a value in another form (a format pgx did not ask for, NULL where none
// is expected, an infinite time) sends the row to pgx's Scan, which reads
// it or says what is wrong with it.

// queryRow reads a statement's one row, if it has one, with decode.
func queryRow(br pgx.BatchResults, decode func(rows pgx.Rows) error) (found bool, err error) {
	rows, err := br.Query()
	if err != nil {
		return false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return false, rows.Err()
	}
	if err := decode(rows); err != nil {
		return true, err
	}
	rows.Close()
	return true, rows.Err()
}

// rowValues decodes the current row's values; ok turns false at the first
// one in a form it does not read.
type rowValues struct {
	vals [][]byte
	fds  []pgconn.FieldDescription
	ok   bool
}

func newRowValues(rows pgx.Rows) rowValues {
	return rowValues{vals: rows.RawValues(), fds: rows.FieldDescriptions(), ok: true}
}

// binary returns value i if it is in binary format, n bytes long (any
// length if n < 0), and not NULL.
func (r *rowValues) binary(i, n int) []byte {
	v := r.vals[i]
	if !r.ok || i >= len(r.fds) || r.fds[i].Format != pgx.BinaryFormatCode || v == nil || n >= 0 && len(v) != n {
		r.ok = false
		return nil
	}
	return v
}

func (r *rowValues) null(i int) bool { return r.ok && r.vals[i] == nil }

// text returns a text value (whose bytes are the same in either format).
func (r *rowValues) text(i int) string {
	if !r.ok || r.vals[i] == nil {
		r.ok = false
		return ""
	}
	return string(r.vals[i])
}

func (r *rowValues) nullText(i int) *string {
	if r.null(i) {
		return nil
	}
	s := r.text(i)
	return &s
}

// bytes returns a bytea value; the caller copies what it keeps.
func (r *rowValues) bytes(i int) []byte { return r.binary(i, -1) }

// json returns a jsonb value's JSON: in text format as it is, in binary
// after its version byte (1).
func (r *rowValues) json(i int) []byte {
	v := r.vals[i]
	switch {
	case !r.ok || i >= len(r.fds) || v == nil:
		r.ok = false
		return nil
	case r.fds[i].Format == pgx.TextFormatCode:
		return v
	case len(v) > 0 && v[0] == 1:
		return v[1:]
	}
	r.ok = false
	return nil
}

func (r *rowValues) int16(i int) int16 {
	if v := r.binary(i, 2); v != nil {
		return int16(binary.BigEndian.Uint16(v))
	}
	return 0
}

func (r *rowValues) int64(i int) int64 {
	if v := r.binary(i, 8); v != nil {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

func (r *rowValues) nullInt64(i int) *int64 {
	if r.null(i) {
		return nil
	}
	n := r.int64(i)
	return &n
}

func (r *rowValues) bool(i int) bool {
	v := r.binary(i, 1)
	return v != nil && v[0] != 0
}

// time returns a timestamptz, as pgx reads it (in the local zone: joinTime
// and the callers make it UTC); nil for NULL.
func (r *rowValues) time(i int) *time.Time {
	if r.null(i) {
		return nil
	}
	v := r.binary(i, 8)
	if v == nil {
		return nil
	}
	us := int64(binary.BigEndian.Uint64(v))
	if us == 1<<63-1 || us == -1<<63 { // infinity: pgx's Scan refuses it
		r.ok = false
		return nil
	}
	t := time.Unix(postgresEpochUnix+us/1_000_000, us%1_000_000*1_000)
	return &t
}

// postgresEpochUnix is postgresEpoch in seconds since the Unix epoch.
const postgresEpochUnix = 946_684_800
