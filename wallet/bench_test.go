package wallet_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/internal/benchcpu"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
)

// issueCodes issues n active cards of 1.00 EUR and returns their codes.
func issueCodes(b testing.TB, env storetest.Env, n int) []string {
	b.Helper()
	codes := make([]string, 0, n)
	for len(codes) < n {
		count := min(n-len(codes), giftcard.MaxBatch)
		out, err := env.Cards.Issue(context.Background(), giftcard.IssueRequest{Value: eurs("1.00"), Count: count}, fmt.Sprint("bench-", len(codes)))
		if err != nil {
			b.Fatal(err)
		}
		for _, ic := range out.Cards {
			codes = append(codes, ic.Code.String())
		}
	}
	return codes
}

// BenchmarkRedeem measures a whole redemption on memstore: parse, hash,
// idempotency check, card transition, credit, journal append, record.
// "uncontended" gives each goroutine its own account; "hot" puts every
// goroutine on one account.
func BenchmarkRedeem(b *testing.B) {
	for _, hot := range []bool{false, true} {
		name := map[bool]string{false: "uncontended", true: "hot"}[hot]
		b.Run(name, func(b *testing.B) {
			env := storetest.NewEnv(b, memstore.New(), 1)
			codes := issueCodes(b, env, b.N)
			var next, worker atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			defer benchcpu.Start(b)()
			b.RunParallel(func(pb *testing.PB) {
				owner := fmt.Sprint("shopper-", worker.Add(1))
				if hot {
					owner = "hot"
				}
				for pb.Next() {
					i := next.Add(1) - 1
					if _, err := env.Wallet.Redeem(context.Background(), owner, codes[i], codes[i]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkBalance measures a balance read of an account with one credit.
func BenchmarkBalance(b *testing.B) {
	for _, hot := range []bool{false, true} {
		name := map[bool]string{false: "uncontended", true: "hot"}[hot]
		b.Run(name, func(b *testing.B) {
			env := storetest.NewEnv(b, memstore.New(), 2)
			for i := 0; i < 64; i++ {
				env.Fund(b, fmt.Sprint("shopper-", i), eurs("10.00"))
			}
			env.Fund(b, "hot", eurs("10.00"))
			var worker atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				owner := fmt.Sprint("shopper-", worker.Add(1)%64)
				if hot {
					owner = "hot"
				}
				for pb.Next() {
					if _, err := env.Wallet.Balance(context.Background(), owner, eur); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkParseOnly is the floor under Redeem: reading the code alone.
func BenchmarkParseOnly(b *testing.B) {
	code, _ := codefmt.Generate(nil)
	s := code.String()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_, _ = codefmt.Parse(s)
	}
}

// BenchmarkRedeemFloor is the floor a redemption on memstore is measured
// against: the same essential work done by hand, with nothing general about
// it. It parses the code, hashes it with a reused keyed HMAC, and under one
// mutex finds the card by hash, moves it to redeemed, credits an int64
// balance, appends a journal entry, appends an audit record for the card
// and one for the account (each a small snapshot of the state after,
// chained by SHA-256 on the previous record of its subject, as the
// activity log does), and stores an idempotency record with a small binary
// outcome. BenchmarkRedeem/uncontended does the same through
// the library; their ratio is what the library's generality costs.
func BenchmarkRedeemFloor(b *testing.B) {
	type card struct {
		id       string
		value    int64
		redeemed bool
		by       string
		at       time.Time
	}
	type entry struct {
		seq, amount, balance int64
		ref, key             string
		at                   time.Time
	}
	type account struct {
		balance int64
		journal []entry
	}
	type record struct {
		fingerprint [32]byte
		outcome     []byte
	}
	type audit struct {
		seq            int64
		prev, digest   [32]byte
		owner          string
		amount, before int64
		at             time.Time
		snapshot       []byte
	}
	var logs = map[string][]audit{} // per card and per account
	appendAudit := func(subject, owner string, amount, before int64, at time.Time, snapshot []byte) {
		log := logs[subject]
		r := audit{seq: int64(len(log) + 1), owner: owner, amount: amount, before: before, at: at, snapshot: snapshot}
		if len(log) > 0 {
			r.prev = log[len(log)-1].digest
		}
		var sealed [128]byte
		in := binary.AppendVarint(append(append(sealed[:0], r.prev[:]...), snapshot...), amount)
		r.digest = sha256.Sum256(in)
		logs[subject] = append(log, r)
	}
	var (
		mu       sync.Mutex
		cards    = map[giftcard.Hash]*card{}
		accounts = map[string]*account{}
		records  = map[string]record{}
		key      = []byte("a secret of at least 32 bytes!!!")
		macs     = sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}
	)
	codes := make([]string, b.N)
	src := rand.NewChaCha8([32]byte{1})
	for i := range codes {
		c, err := codefmt.Generate(src)
		if err != nil {
			b.Fatal(err)
		}
		codes[i] = c.String()
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(codes[i]))
		var h giftcard.Hash
		mac.Sum(h[:0])
		cards[h] = &card{id: fmt.Sprint("card_", i), value: 100}
	}
	var worker atomic.Int64
	var next atomic.Int64
	now := time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.ResetTimer()
	defer benchcpu.Start(b)()
	b.RunParallel(func(pb *testing.PB) {
		owner := fmt.Sprint("shopper-", worker.Add(1))
		var buf [64]byte
		for pb.Next() {
			i := next.Add(1) - 1
			code, err := codefmt.Parse(codes[i])
			if err != nil {
				b.Error(err)
				return
			}
			mac := macs.Get().(hash.Hash)
			text, _ := code.AppendText(buf[:0])
			mac.Reset()
			mac.Write(text)
			var h giftcard.Hash
			mac.Sum(h[:0])
			macs.Put(mac)
			fingerprint := sha256.Sum256(h[:])
			mu.Lock()
			c := cards[h]
			if c == nil || c.redeemed {
				mu.Unlock()
				b.Error("card not redeemable")
				return
			}
			c.redeemed, c.by, c.at = true, owner, now
			a := accounts[owner]
			if a == nil {
				a = &account{}
				accounts[owner] = a
			}
			a.balance += c.value
			a.journal = append(a.journal, entry{seq: int64(len(a.journal) + 1), amount: c.value, balance: a.balance, ref: c.id, key: codes[i], at: now})
			appendAudit(c.id, owner, -c.value, c.value, now, append(append(make([]byte, 0, 64), c.id...), owner...))
			appendAudit(owner, owner, c.value, a.balance-c.value, now, binary.AppendVarint(append(make([]byte, 0, 64), owner...), a.balance))
			outcome := binary.AppendVarint(append([]byte(nil), c.id...), a.balance)
			records[codes[i]] = record{fingerprint: fingerprint, outcome: outcome}
			mu.Unlock()
		}
	})
}
