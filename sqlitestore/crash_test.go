package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/sqlitestore"
	"github.com/giftkit/giftkit/storetest/crashtest"
)

// openCrash opens the crash test's database in its directory.
func openCrash(ctx context.Context, in crashtest.Instance) (giftkit.Store[*sqlitestore.Tx], func(), error) {
	s, err := sqlitestore.Open(ctx, filepath.Join(in.Dir, "giftkit.db"))
	if err != nil {
		return nil, nil, err
	}
	return s, s.Close, nil
}

// TestCrash kills processes that redeem and pay on one SQLite file, with
// SIGKILL, at random moments, many times, and checks that everything they
// acknowledged survived, that money is conserved and that nothing is left
// half-done (see package crashtest). About 35 seconds; 10 with -short.
func TestCrash(t *testing.T) {
	res := crashtest.Run(t, crashtest.Config[*sqlitestore.Tx]{Open: openCrash})
	least := 30
	if testing.Short() {
		least = 5
	}
	if !t.Failed() && res.Kills < least {
		t.Errorf("only %d kills: the run proves little", res.Kills)
	}
}

// lossy acknowledges every seventh unit of work without committing it,
// from the seventeenth a process runs (the parent's first sixteen issue the
// cards): a store that loses acknowledged writes, which the crash test
// must catch.
type lossy struct {
	*sqlitestore.Store
	n atomic.Int64
}

var errDropped = errors.New("dropped")

func (l *lossy) Update(ctx context.Context, fn func(*sqlitestore.Tx) error) error {
	if n := l.n.Add(1); n < 17 || n%7 != 0 {
		return l.Store.Update(ctx, fn)
	}
	err := l.Store.Update(ctx, func(tx *sqlitestore.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errDropped
	})
	if errors.Is(err, errDropped) {
		return nil
	}
	return err
}

// recorder keeps what the crash test reports instead of failing the test.
type recorder struct {
	*testing.T
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...) }

// TestCrashCatchesLostWrites runs the crash test on a store that loses
// units of work it acknowledged: the test must say so.
func TestCrashCatchesLostWrites(t *testing.T) {
	rec := &recorder{T: t}
	crashtest.Run(rec, crashtest.Config[*sqlitestore.Tx]{
		Duration:     3 * time.Second,
		MaxKillDelay: time.Second,
		Open: func(ctx context.Context, in crashtest.Instance) (giftkit.Store[*sqlitestore.Tx], func(), error) {
			s, err := sqlitestore.Open(ctx, filepath.Join(in.Dir, "giftkit.db"))
			if err != nil {
				return nil, nil, err
			}
			return &lossy{Store: s}, s.Close, nil
		},
	})
	if len(rec.errors) == 0 {
		t.Fatal("the crash test found nothing wrong with a store that loses acknowledged writes")
	}
	for i, e := range rec.errors {
		if i == 3 {
			t.Logf("... %d more", len(rec.errors)-3)
			break
		}
		t.Logf("found: %.300s", e)
	}
}
