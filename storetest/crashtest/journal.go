package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
)

// journal is the bank-card processor of the run: processortest's fake,
// made to outlive the processes that call it, as a real processor does.
// Every call is appended to a file before the fake sees it; a process
// that starts replays the file into a new fake, which is deterministic
// (its authorisation IDs are numbered in order), so it ends up in the
// state the killed process's fake was in. A call written but not made
// before the kill is made by the replay: to the caller, a call whose reply
// was lost, which checkout retries with the same key.
type journal struct {
	mu    sync.Mutex
	f     *os.File
	inner *processortest.Processor
}

var _ checkout.Processor = (*journal)(nil)

// journalLine is one call to the processor.
type journalLine struct {
	Op         string `json:"op"`
	Instrument string `json:"instrument,omitempty"`
	AuthID     string `json:"auth,omitempty"`
	Currency   string `json:"cur,omitempty"`
	MinorUnits int    `json:"minor,omitempty"`
	Amount     int64  `json:"amount,omitempty"`
	Key        string `json:"key"`
}

// openJournal replays the journal at path, if any, into a new fake and
// opens it to append. A last line cut short by a kill is dropped: its call
// was never made.
func openJournal(path string) (*journal, error) {
	j := &journal{inner: processortest.New()}
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	whole := data[:bytes.LastIndexByte(data, '\n')+1]
	for i, line := range bytes.Split(bytes.TrimSuffix(whole, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var l journalLine
		if err := json.Unmarshal(line, &l); err != nil {
			return nil, fmt.Errorf("crashtest: processor journal line %d: %v", i+1, err)
		}
		if err := j.apply(l); err != nil {
			return nil, err
		}
	}
	if len(whole) < len(data) {
		if err := os.Truncate(path, int64(len(whole))); err != nil {
			return nil, err
		}
	}
	j.f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return j, nil
}

func (j *journal) close() { _ = j.f.Close() }

// apply makes the call l records, ignoring its answer.
func (j *journal) apply(l journalLine) error {
	ctx := context.Background()
	var amount giftkit.Money
	if l.Currency != "" {
		c, err := giftkit.NewCurrency(l.Currency, l.MinorUnits)
		if err != nil {
			return fmt.Errorf("crashtest: processor journal: %v", err)
		}
		amount = giftkit.FromMinor(l.Amount, c)
	}
	switch l.Op {
	case processortest.OpAuthorize:
		_, _ = j.inner.Authorize(ctx, l.Instrument, amount, l.Key)
	case processortest.OpCapture:
		_ = j.inner.Capture(ctx, l.AuthID, amount, l.Key)
	case processortest.OpVoid:
		_ = j.inner.Void(ctx, l.AuthID, l.Key)
	case processortest.OpRefund:
		_ = j.inner.Refund(ctx, l.AuthID, amount, l.Key)
	default:
		return fmt.Errorf("crashtest: processor journal: unknown call %q", l.Op)
	}
	return nil
}

// record appends l to the journal, in one write, before the fake acts.
func (j *journal) record(l journalLine, amount giftkit.Money) error {
	if amount.IsValid() {
		c := amount.Currency()
		l.Currency, l.MinorUnits, l.Amount = c.Code(), c.MinorUnits(), amount.Minor()
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = j.f.Write(append(b, '\n'))
	return err
}

// Authorize implements checkout.Processor. The fake is called without the
// caller's context: a call in the journal is made, as the replay will.
func (j *journal) Authorize(ctx context.Context, instrument string, amount giftkit.Money, key string) (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.record(journalLine{Op: processortest.OpAuthorize, Instrument: instrument, Key: key}, amount); err != nil {
		return "", err
	}
	return j.inner.Authorize(context.WithoutCancel(ctx), instrument, amount, key)
}

// Capture implements checkout.Processor.
func (j *journal) Capture(ctx context.Context, authID string, amount giftkit.Money, key string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.record(journalLine{Op: processortest.OpCapture, AuthID: authID, Key: key}, amount); err != nil {
		return err
	}
	return j.inner.Capture(context.WithoutCancel(ctx), authID, amount, key)
}

// Void implements checkout.Processor.
func (j *journal) Void(ctx context.Context, authID string, key string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.record(journalLine{Op: processortest.OpVoid, AuthID: authID, Key: key}, giftkit.Money{}); err != nil {
		return err
	}
	return j.inner.Void(context.WithoutCancel(ctx), authID, key)
}

// Refund implements checkout.Processor.
func (j *journal) Refund(ctx context.Context, authID string, amount giftkit.Money, key string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.record(journalLine{Op: processortest.OpRefund, AuthID: authID, Key: key}, amount); err != nil {
		return err
	}
	return j.inner.Refund(context.WithoutCancel(ctx), authID, amount, key)
}
