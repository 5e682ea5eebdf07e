package lincheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/rpc"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
)

// One card processor for every process of a multi-process run, so that a
// payment one process made can be captured, refunded or swept by another,
// as with a real processor: the parent serves its processortest.Processor
// over net/rpc on loopback ([ServeProcessor]) and each worker dials it
// ([DialProcessor]).

// ProcCall is one processor call sent over RPC.
type ProcCall struct {
	Op         string // "authorize", "capture", "void", "refund"
	Instrument string
	Amount     json.RawMessage // giftkit.Money's JSON form
	AuthID     string
	Key        string
}

// ProcReply is its answer.
type ProcReply struct {
	AuthID  string
	Decline string // the reason, if the processor declined
	Err     string // any other error: the outcome is unknown
}

// ProcServer serves a checkout.Processor's calls over RPC.
type ProcServer struct{ p checkout.Processor }

// Call makes one processor call.
func (s *ProcServer) Call(c ProcCall, r *ProcReply) error {
	ctx := context.Background()
	var amount giftkit.Money
	if len(c.Amount) > 0 {
		if err := json.Unmarshal(c.Amount, &amount); err != nil {
			return err
		}
	}
	var err error
	switch c.Op {
	case "authorize":
		r.AuthID, err = s.p.Authorize(ctx, c.Instrument, amount, c.Key)
	case "capture":
		err = s.p.Capture(ctx, c.AuthID, amount, c.Key)
	case "void":
		err = s.p.Void(ctx, c.AuthID, c.Key)
	case "refund":
		err = s.p.Refund(ctx, c.AuthID, amount, c.Key)
	default:
		return fmt.Errorf("unknown processor call %q", c.Op)
	}
	var d *checkout.DeclineError
	switch {
	case errors.As(err, &d):
		r.Decline = d.Reason
	case err != nil:
		r.Err = err.Error()
	}
	return nil
}

// ServeProcessor serves p on a loopback port, and returns its address and
// a function that stops serving.
func ServeProcessor(p checkout.Processor) (addr string, stop func(), err error) {
	srv := rpc.NewServer()
	if err := srv.RegisterName("Processor", &ProcServer{p: p}); err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // stopped
			}
			go srv.ServeConn(conn)
		}
	}()
	return ln.Addr().String(), func() { ln.Close() }, nil
}

// RemoteProcessor is a checkout.Processor served by [ServeProcessor].
type RemoteProcessor struct{ c *rpc.Client }

var _ checkout.Processor = (*RemoteProcessor)(nil)

// DialProcessor connects to the processor served at addr.
func DialProcessor(addr string) (*RemoteProcessor, error) {
	c, err := rpc.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &RemoteProcessor{c: c}, nil
}

// Close closes the connection.
func (r *RemoteProcessor) Close() error { return r.c.Close() }

func (r *RemoteProcessor) call(ctx context.Context, c ProcCall, amount giftkit.Money) (string, error) {
	if amount.IsValid() {
		data, err := json.Marshal(amount)
		if err != nil {
			return "", err
		}
		c.Amount = data
	}
	var reply ProcReply
	call := r.c.Go("Processor.Call", c, &reply, nil)
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case <-call.Done:
	}
	switch {
	case call.Error != nil:
		return "", fmt.Errorf("%s: processor unreachable: %w", c.Op, call.Error)
	case reply.Decline != "":
		return "", &checkout.DeclineError{Reason: reply.Decline}
	case reply.Err != "":
		return "", fmt.Errorf("%s: %s", c.Op, reply.Err)
	}
	return reply.AuthID, nil
}

// Authorize implements checkout.Processor.
func (r *RemoteProcessor) Authorize(ctx context.Context, instrument string, amount giftkit.Money, key string) (string, error) {
	return r.call(ctx, ProcCall{Op: "authorize", Instrument: instrument, Key: key}, amount)
}

// Capture implements checkout.Processor.
func (r *RemoteProcessor) Capture(ctx context.Context, authID string, amount giftkit.Money, key string) error {
	_, err := r.call(ctx, ProcCall{Op: "capture", AuthID: authID, Key: key}, amount)
	return err
}

// Void implements checkout.Processor.
func (r *RemoteProcessor) Void(ctx context.Context, authID string, key string) error {
	_, err := r.call(ctx, ProcCall{Op: "void", AuthID: authID, Key: key}, giftkit.Money{})
	return err
}

// Refund implements checkout.Processor.
func (r *RemoteProcessor) Refund(ctx context.Context, authID string, amount giftkit.Money, key string) error {
	_, err := r.call(ctx, ProcCall{Op: "refund", AuthID: authID, Key: key}, amount)
	return err
}
