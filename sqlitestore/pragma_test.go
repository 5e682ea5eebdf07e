package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// Every connection, the writer's and the readers', has the settings the
// package documents.
func TestSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		sync int // PRAGMA synchronous: 1 NORMAL, 2 FULL
		busy int // ms
	}{
		{"default", nil, 2, 5000},
		{"normal", []Option{WithSync(SyncNormal), WithBusyTimeout(250 * time.Millisecond)}, 1, 250},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := Open(ctx, filepath.Join(t.TempDir(), "giftkit.db"), tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			check := func(who string, tx *Tx, queryOnly int) {
				t.Helper()
				for pragma, want := range map[string]any{
					"journal_mode": "wal", "synchronous": tc.sync, "busy_timeout": tc.busy,
					"foreign_keys": 1, "query_only": queryOnly,
				} {
					var got any
					if _, err := tx.c.row(ctx, "PRAGMA "+pragma, nil, &got); err != nil {
						t.Fatalf("%s: PRAGMA %s: %v", who, pragma, err)
					}
					if g, ok := got.(int64); ok {
						got = int(g)
					}
					if got != want {
						t.Errorf("%s: PRAGMA %s = %v; want %v", who, pragma, got, want)
					}
				}
			}
			if err := s.Update(ctx, func(tx *Tx) error { check("writer", tx, 0); return nil }); err != nil {
				t.Fatal(err)
			}
			if err := s.View(ctx, func(tx *Tx) error { check("reader", tx, 1); return nil }); err != nil {
				t.Fatal(err)
			}
		})
	}
}
