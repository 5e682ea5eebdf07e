package lincheck

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/giftkit/giftkit/wallet"
)

// The sequential models, one per kind of partition. Each partition is one
// object (an account, a card, a payment, an idempotency key, a limiter
// subject), and an operation that touches several objects (a redemption
// credits an account and redeems a card) appears in each, projected onto
// what that object sees: its output carries what the other objects decided
// (the card's value, the payment's split), so each model steps on its own
// state alone. Projection keeps every partition small; it is sound, since
// a linearizable history projects onto linearizable partitions, but checks
// each object's linearization points separately.

// fnvString hashes model states for porcupine's cache.
func fnvString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// Accounts: a shopper's wallet in one currency. Its state is the balance,
// what holds reserve (per payment) and the digest of its journal, so that
// a History read must return exactly the journal the model wrote, entry by
// entry, up to some instant within the read.

type acctKind uint8

const (
	aCredit  acctKind = iota + 1 // a redemption's credit or a refund's balance part
	aPlan                        // Pay's split of the total and its hold
	aCapture                     // a capture of the payment's hold, and the release of the rest
	aRelease                     // the release of the payment's hold: a decline or a cancel
	aBalance                     // a Balance read
	aHistory                     // a History read
)

var acctNames = map[acctKind]string{aCredit: "credit", aPlan: "plan", aCapture: "capture", aRelease: "release", aBalance: "balance", aHistory: "history"}

type acctIn struct {
	Kind    acctKind
	Call    int
	Amount  int64 // credit: the amount; plan: the total; capture: taken from the balance
	Skip    bool  // plan: SkipBalance
	Payment string
	Entry   wallet.EntryKind // credit: credit or refund
	Ref     string           // the journal entries' reference
	Key     string           // the journal entries' key
	Maybe   bool             // the call's outcome is unknown: it may or may not have happened
	Check   bool             // credit: the output is the balance right after it (a redemption)
}

type acctOut struct {
	Balance, Held, Available, N int64
	Hash                        uint64
	X                           int64 // plan: the balance part
	Refused                     bool  // plan: refused for want of a bank card
}

type acctState struct {
	Balance, Held, N int64
	Hash             uint64
	Holds            string // "payment=amount;" sorted by payment
}

func (s acctState) holds() map[string]int64 {
	m := map[string]int64{}
	for _, h := range strings.Split(s.Holds, ";") {
		if id, amount, ok := strings.Cut(h, "="); ok {
			m[id], _ = strconv.ParseInt(amount, 10, 64)
		}
	}
	return m
}

func (s acctState) withHolds(m map[string]int64) acctState {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "%s=%d;", id, m[id])
	}
	s.Holds = b.String()
	return s
}

// entry appends a journal entry already applied to the balance and held.
func (s acctState) entry(kind wallet.EntryKind, amount, held int64, in acctIn) acctState {
	s.N++
	s.Hash = entryHash(s.Hash, s.N, kind, amount, held, s.Balance, s.Balance-s.Held, in.Ref, in.Key)
	return s
}

// acctApply is the account's step: the new state, or false if the output
// cannot be what the operation returned in state s.
func acctApply(s acctState, in acctIn, out acctOut) (acctState, bool) {
	switch in.Kind {
	case aCredit:
		s.Balance += in.Amount
		s = s.entry(in.Entry, in.Amount, 0, in)
		return s, !in.Check || (out.Balance == s.Balance && out.Held == s.Held && out.Available == s.Balance-s.Held && out.N == s.N)
	case aPlan:
		want := max(0, min(s.Balance-s.Held, in.Amount))
		if in.Skip {
			want = 0
		}
		if out.Refused {
			return s, want < in.Amount
		}
		if out.X != want {
			return s, false
		}
		if want > 0 {
			holds := s.holds()
			holds[in.Payment] = want
			s = s.withHolds(holds)
			s.Held += want
			s = s.entry(wallet.EntryHold, 0, want, in)
		}
		return s, true
	case aCapture, aRelease:
		return acctSettle(s, in)
	case aBalance:
		return s, out.Balance == s.Balance && out.Held == s.Held && out.Available == s.Balance-s.Held
	case aHistory:
		return s, out.N == s.N && out.Hash == s.Hash
	}
	return s, false
}

// acctSettle captures in.Amount of the payment's hold and releases the
// rest (a release captures nothing).
func acctSettle(s acctState, in acctIn) (acctState, bool) {
	holds := s.holds()
	h, ok := holds[in.Payment]
	take := in.Amount
	if in.Kind == aRelease {
		take = 0
	}
	if !ok || take > h {
		return s, false
	}
	delete(holds, in.Payment)
	s = s.withHolds(holds)
	if take > 0 {
		s.Balance, s.Held = s.Balance-take, s.Held-take
		s = s.entry(wallet.EntryCapture, -take, -take, in)
	}
	if rest := h - take; rest > 0 {
		s.Held -= rest
		s = s.entry(wallet.EntryRelease, 0, -rest, in)
	}
	return s, true
}

var accountModel = porcupine.NondeterministicModel{
	Init: func() []any { return []any{acctState{}} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(acctState), input.(acctIn), output.(acctOut)
		if in.Maybe {
			next, _ := acctApply(s, in, out)
			return []any{s, next}
		}
		if next, ok := acctApply(s, in, out); ok {
			return []any{next}
		}
		return nil
	},
	Hash: func(state any) uint64 {
		s := state.(acctState)
		return s.Hash ^ uint64(s.Balance)*31 ^ uint64(s.Held)*17 ^ fnvString(s.Holds)
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(acctIn), output.(acctOut)
		maybe := map[bool]string{true: "maybe "}[in.Maybe]
		switch in.Kind {
		case aCredit:
			return fmt.Sprintf("#%d %s%s %d → balance %d held %d seq %d", in.Call, maybe, in.Entry, in.Amount, out.Balance, out.Held, out.N)
		case aPlan:
			return fmt.Sprintf("#%d %spay %s total %d skip %v → balance part %d refused %v", in.Call, maybe, in.Payment, in.Amount, in.Skip, out.X, out.Refused)
		case aCapture, aRelease:
			return fmt.Sprintf("#%d %s%s %s %d", in.Call, maybe, acctNames[in.Kind], in.Payment, in.Amount)
		case aBalance:
			return fmt.Sprintf("#%d balance → %d held %d available %d", in.Call, out.Balance, out.Held, out.Available)
		}
		return fmt.Sprintf("#%d history → %d entries %x", in.Call, out.N, out.Hash)
	},
	DescribeState: func(state any) string {
		s := state.(acctState)
		return fmt.Sprintf("balance %d held %d entries %d (%x) holds %s", s.Balance, s.Held, s.N, s.Hash, s.Holds)
	},
}

// Cards: who redeemed it, if anyone. Every card is active and unexpired for
// the whole run, so a redemption succeeds exactly when nobody redeemed the
// card before, and is refused as already redeemed, saying whether by the
// same account, afterwards.

type cardIn struct {
	Call  int
	Owner string
	Maybe bool
}

type cardOut struct {
	Code string
	Same bool
}

var cardModel = porcupine.NondeterministicModel{
	Init: func() []any { return []any{""} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(string), input.(cardIn), output.(cardOut)
		switch {
		case in.Maybe && s == "":
			return []any{s, in.Owner}
		case in.Maybe:
			return []any{s}
		case out.Code == "" && s == "":
			return []any{in.Owner}
		case out.Code == "giftcard.already_redeemed" && s != "" && (s == in.Owner) == out.Same:
			return []any{s}
		}
		return nil
	},
	Hash: func(state any) uint64 { return fnvString(state.(string)) },
	DescribeOperation: func(input, output any) string {
		in, out := input.(cardIn), output.(cardOut)
		if in.Maybe {
			return fmt.Sprintf("#%d maybe redeem by %s", in.Call, in.Owner)
		}
		return fmt.Sprintf("#%d redeem by %s → %q same %v", in.Call, in.Owner, out.Code, out.Same)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("redeemed by %q", state) },
}

// Keys: the first known outcome of a call with an idempotency key, which
// every later attempt must repeat (the limiter's refusal aside, which
// giftkit does not record).

var keyModel = porcupine.Model{
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		s, out := state.(string), output.(Outcome)
		switch {
		case out.Code == Unknown, out.Code == Locked:
			return true, s
		case s == "":
			return true, out.Digest
		}
		return s == out.Digest, s
	},
	Hash: func(state any) uint64 { return fnvString(state.(string)) },
	DescribeOperation: func(input, output any) string {
		return fmt.Sprintf("%v → %s", input, output.(Outcome).Digest)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("recorded %q", state) },
}

// Limiter subjects: how many guesses reached the lookup. Every guess is a
// code never issued, so each one looked up is settled as failed and stays
// counted for the run (window and lockout outlast it): at most GuessLimit
// may ever be looked up. A refusal is always allowed, since attempts in
// flight count.

var guessModel = porcupine.Model{
	Init: func() any { return 0 },
	Step: func(state, input, output any) (bool, any) {
		n := state.(int)
		if !output.(bool) {
			return true, n
		}
		return n < GuessLimit, n + 1
	},
	DescribeOperation: func(input, output any) string {
		return fmt.Sprintf("%v → looked up %v", input, output)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%d looked up", state) },
}
