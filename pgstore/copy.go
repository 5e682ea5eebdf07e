package pgstore

import (
	"encoding/binary"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bulk writes (an issuance's cards, their activity records and their
// events) go by COPY in PostgreSQL's binary format, which copyRows
// encodes itself, row by row as the connection asks for more: each value
// is appended to the stream as the server reads it, without a []any per
// row or a look-up of its encoder, and the server decodes it without
// parsing text.

// copyRows copies n rows into table's columns, in one round trip after
// the unit's pending writes have been sent; row appends the i-th row's
// fields (with copyText, copyInt64 and the like, below) to b. The
// connection's tracer, if it traces COPY (pgx.CopyFromTracer), sees it as
// it would see pgx's.
func (t *Tx) copyRows(op, table string, columns []string, n int, row func(b []byte, i int) []byte) error {
	if len(t.pending) > 0 || !t.begun { // BEGIN, and the writes the rows may follow
		br, err := t.send(op, nil)
		if err != nil {
			return err
		}
		if err := br.Close(); err != nil {
			return translate(op, err)
		}
	}
	ctx := t.ctx
	tracer, _ := t.conn.Config().Tracer.(pgx.CopyFromTracer)
	if tracer != nil {
		ctx = tracer.TraceCopyFromStart(ctx, t.conn, pgx.TraceCopyFromStartData{TableName: pgx.Identifier{table}, ColumnNames: columns})
	}
	sql := "COPY " + table + " (" + strings.Join(columns, ", ") + ") FROM STDIN (FORMAT binary)"
	tag, err := t.conn.PgConn().CopyFrom(ctx, &copyReader{n: n, row: row, fields: int16(len(columns))}, sql)
	if tracer != nil {
		tracer.TraceCopyFromEnd(ctx, t.conn, pgx.TraceCopyFromEndData{CommandTag: tag, Err: err})
	}
	return translate(op, err)
}

// copyHeader begins a COPY's binary stream: its signature, no flags, and
// no header extension.
const copyHeader = "PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

// copyReader is the binary stream of a COPY: the header, each row (its
// number of fields, then each field's length and bytes), and the trailer.
type copyReader struct {
	n, next int // the rows, and the next to encode
	row     func(b []byte, i int) []byte
	fields  int16
	buf     []byte // encoded, not yet read
	started bool
	ended   bool
}

func (r *copyReader) Read(p []byte) (int, error) {
	if !r.started {
		r.started = true
		r.buf = append(r.buf[:0], copyHeader...)
	}
	// Encode rows until p can be filled, or none is left.
	for len(r.buf) < len(p) && !r.ended {
		if r.next == r.n {
			r.buf = binary.BigEndian.AppendUint16(r.buf, 0xffff) // the trailer: -1
			r.ended = true
			break
		}
		r.buf = binary.BigEndian.AppendUint16(r.buf, uint16(r.fields))
		r.buf = r.row(r.buf, r.next)
		r.next++
	}
	if len(r.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.buf)
	r.buf = r.buf[:copy(r.buf, r.buf[n:])]
	return n, nil
}

// The fields of a row in COPY's binary format: each one's length, then its
// value as the column type's binary receive function reads it. NULL is a
// length of -1.

func copyNull(b []byte) []byte { return binary.BigEndian.AppendUint32(b, 0xffffffff) }

// copyText appends a text, char or bytea value: its bytes.
func copyText[S string | []byte](b []byte, s S) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func copyInt16(b []byte, v int16) []byte {
	b = binary.BigEndian.AppendUint32(b, 2)
	return binary.BigEndian.AppendUint16(b, uint16(v))
}

func copyInt32(b []byte, v int32) []byte {
	b = binary.BigEndian.AppendUint32(b, 4)
	return binary.BigEndian.AppendUint32(b, uint32(v))
}

func copyInt64(b []byte, v int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(v))
}

func copyBool(b []byte, v bool) []byte {
	b = binary.BigEndian.AppendUint32(b, 1)
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// postgresEpoch is where timestamptz counts its microseconds from.
var postgresEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// copyTime appends a timestamptz: microseconds since 2000-01-01 UTC (the
// nanoseconds below are dropped, as splitTime keeps them apart).
func copyTime(b []byte, t time.Time) []byte {
	us := t.Unix()*1_000_000 + int64(t.Nanosecond())/1000 - postgresEpoch.Unix()*1_000_000
	return copyInt64(b, us)
}

// copyNullTime appends t, or NULL for the zero time (as splitNull).
func copyNullTime(b []byte, t *time.Time) []byte {
	if t == nil {
		return copyNull(b)
	}
	return copyTime(b, *t)
}
