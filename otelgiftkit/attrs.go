package otelgiftkit

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/giftkit/giftkit/codefmt"
	"go.opentelemetry.io/otel/attribute"
)

// Withheld replaces a string that holds an activation code the Observer
// cannot place to mask (in full-width characters, say) wherever it would
// have exported it: codefmt.Withheld.
const Withheld = codefmt.Withheld

// scrub returns s with every activation code in it masked (codefmt.Redact).
func scrub(s string) string { return codefmt.Redact(s) }

// appendAttrs appends attrs to kvs as OpenTelemetry attributes, each under
// prefix and its key; a group's members go under prefix, the group's key
// and a dot. A string, wherever it came from (a string, an error, a
// fmt.Stringer such as a codefmt.Code), is scrubbed. Empty attributes are
// ignored, as slog ignores them.
func appendAttrs(kvs []attribute.KeyValue, prefix string, attrs []slog.Attr) []attribute.KeyValue {
	for _, a := range attrs {
		v := a.Value.Resolve()
		if a.Key == "" && v.Kind() != slog.KindGroup {
			continue // an empty attribute, or one slog would ignore
		}
		key := prefix + scrub(a.Key)
		if v.Kind() == slog.KindGroup {
			if a.Key == "" {
				key = prefix // inlined, as slog inlines a group with no key
			} else {
				key += "."
			}
			kvs = appendAttrs(kvs, key, v.Group())
			continue
		}
		kvs = append(kvs, keyValue(key, v))
	}
	return kvs
}

// keyValue converts a resolved slog value that is not a group: numbers and
// booleans keep their type (a uint64 beyond int64's range becomes its
// decimal string), a duration becomes float seconds, a time its RFC 3339
// string in UTC, a string slice a string slice, anything else its text.
func keyValue(key string, v slog.Value) attribute.KeyValue {
	switch v.Kind() {
	case slog.KindString:
		return attribute.String(key, scrub(v.String()))
	case slog.KindInt64:
		return attribute.Int64(key, v.Int64())
	case slog.KindUint64:
		if n := v.Uint64(); n <= math.MaxInt64 {
			return attribute.Int64(key, int64(n))
		}
		return attribute.String(key, v.String())
	case slog.KindFloat64:
		return attribute.Float64(key, v.Float64())
	case slog.KindBool:
		return attribute.Bool(key, v.Bool())
	case slog.KindDuration:
		return attribute.Float64(key, v.Duration().Seconds())
	case slog.KindTime:
		return attribute.String(key, v.Time().UTC().Format(time.RFC3339Nano))
	}
	switch x := v.Any().(type) {
	case []string:
		s := make([]string, len(x))
		for i := range x {
			s[i] = scrub(x[i])
		}
		return attribute.StringSlice(key, s)
	case []byte:
		return attribute.String(key, scrub(string(x)))
	case nil:
		return attribute.String(key, "")
	}
	return attribute.String(key, scrub(fmt.Sprint(v.Any())))
}
