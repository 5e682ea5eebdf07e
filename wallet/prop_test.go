package wallet_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
	"github.com/giftkit/giftkit/wallet"
)

var (
	owners     = []string{"alice", "bob", "carol"}
	currencies = []giftkit.Currency{giftkit.EUR, giftkit.JPY, giftkit.KWD}
)

type modelCard struct {
	id       string
	code     codefmt.Code
	value    giftkit.Money
	state    giftcard.State
	expires  time.Time
	redeemer string
}

type modelLot struct {
	minor   int64
	expires time.Time // zero: never
}

type acctKey struct {
	owner string
	cur   giftkit.Currency
}

type call struct {
	owner, code, key string
	res              wallet.Redeemed
	err              error
}

// walletMachine is the state machine: the real services over a memstore on
// one side, a plain model on the other.
type walletMachine struct {
	env    storetest.Env
	store  *memstore.Store
	cards  []*modelCard
	lots   map[acctKey][]modelLot
	issued map[giftkit.Currency]int64
	calls  []call
	n      int
}

func (m *walletMachine) key(prefix string) string {
	m.n++
	return fmt.Sprintf("%s-%d", prefix, m.n)
}

// expire drops the model's expired lots, as Sweep does.
func (m *walletMachine) expire(now time.Time) {
	for k, lots := range m.lots {
		kept := lots[:0]
		for _, l := range lots {
			if l.expires.IsZero() || now.Before(l.expires) {
				kept = append(kept, l)
			}
		}
		m.lots[k] = kept
	}
}

func (m *walletMachine) balance(k acctKey) int64 {
	var sum int64
	for _, l := range m.lots[k] {
		sum += l.minor
	}
	return sum
}

func (m *walletMachine) addLot(k acctKey, l modelLot) {
	lots := append(m.lots[k], l)
	sort.SliceStable(lots, func(i, j int) bool {
		a, b := lots[i].expires, lots[j].expires
		if a.IsZero() != b.IsZero() {
			return !a.IsZero()
		}
		return a.Before(b)
	})
	m.lots[k] = lots
}

func (m *walletMachine) pickCard(t *rapid.T) *modelCard {
	if len(m.cards) == 0 {
		t.Skip("no cards yet")
	}
	return m.cards[rapid.IntRange(0, len(m.cards)-1).Draw(t, "card")]
}

func wantCode(t *rapid.T, op string, err error, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v; want %v", op, err, want)
	}
}

func (m *walletMachine) Issue(t *rapid.T) {
	cur := rapid.SampledFrom(currencies).Draw(t, "currency")
	value := giftkit.FromMinor(rapid.Int64Range(1, 100000).Draw(t, "minor"), cur)
	count := rapid.IntRange(1, 3).Draw(t, "count")
	pending := rapid.Bool().Draw(t, "pending")
	var expires time.Time
	if rapid.Bool().Draw(t, "expires") {
		expires = m.env.Clock.Now().Add(time.Duration(rapid.IntRange(1, 240).Draw(t, "hours")) * time.Hour)
	}
	out, err := m.env.Cards.Issue(context.Background(), giftcard.IssueRequest{Value: value, Count: count, ExpiresAt: expires, Pending: pending}, m.key("issue"))
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	for _, ic := range out.Cards {
		state := giftcard.StateActive
		if pending {
			state = giftcard.StatePending
		}
		m.cards = append(m.cards, &modelCard{id: ic.Card.ID, code: ic.Code, value: value, state: state, expires: expires})
		m.issued[cur] += value.Minor()
	}
}

func (m *walletMachine) Admin(t *rapid.T) {
	c := m.pickCard(t)
	op := rapid.SampledFrom([]string{"activate", "block", "unblock", "void"}).Draw(t, "op")
	from := map[string][]giftcard.State{
		"activate": {giftcard.StatePending},
		"block":    {giftcard.StateActive},
		"unblock":  {giftcard.StateBlocked},
		"void":     {giftcard.StatePending, giftcard.StateActive, giftcard.StateBlocked},
	}[op]
	to := map[string]giftcard.State{"activate": giftcard.StateActive, "block": giftcard.StateBlocked,
		"unblock": giftcard.StateActive, "void": giftcard.StateVoided}[op]
	svc := map[string]func(context.Context, string, string) (giftcard.Card, error){
		"activate": m.env.Cards.Activate, "block": m.env.Cards.Block, "unblock": m.env.Cards.Unblock, "void": m.env.Cards.Void,
	}[op]
	got, err := svc(context.Background(), c.id, m.key(op))
	allowed := false
	for _, s := range from {
		allowed = allowed || s == c.state
	}
	if !allowed {
		wantCode(t, op, err, giftcard.ErrInvalidTransition)
		return
	}
	if err != nil || got.State != to {
		t.Fatalf("%s from %v: %v, %v; want %v", op, c.state, got.State, err, to)
	}
	c.state = to
}

func (m *walletMachine) Redeem(t *rapid.T) {
	c := m.pickCard(t)
	owner := rapid.SampledFrom(owners).Draw(t, "owner")
	input := c.code.String()
	if rapid.Bool().Draw(t, "messy") {
		input = " " + strings.ToLower(strings.ReplaceAll(input, "-", " ")) + " "
	}
	key := m.key("redeem")
	res, err := m.env.Wallet.Redeem(context.Background(), owner, input, key)
	m.calls = append(m.calls, call{owner: owner, code: input, key: key, res: res, err: err})
	now := m.env.Clock.Now()
	switch {
	case c.state == giftcard.StateRedeemed:
		wantCode(t, "redeem", err, giftcard.ErrAlreadyRedeemed)
		var ce *giftcard.Error
		if errors.As(err, &ce) && ce.SameAccount != (c.redeemer == owner) {
			t.Fatalf("redeem: SameAccount = %v; redeemed by %s, asked by %s", ce.SameAccount, c.redeemer, owner)
		}
	case c.state != giftcard.StateActive:
		wantCode(t, "redeem", err, giftcard.ErrNotRedeemable)
	case !c.expires.IsZero() && !now.Before(c.expires):
		wantCode(t, "redeem", err, giftcard.ErrExpired)
	default:
		if err != nil || res.Amount != c.value {
			t.Fatalf("redeem %s: %v, %v; want %v", c.id, res.Amount, err, c.value)
		}
		c.state, c.redeemer = giftcard.StateRedeemed, owner
		m.expire(now)
		m.addLot(acctKey{owner, c.value.Currency()}, modelLot{minor: c.value.Minor(), expires: c.expires})
	}
}

func (m *walletMachine) RedeemUnknown(t *rapid.T) {
	code, err := codefmt.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.env.Wallet.Redeem(context.Background(), rapid.SampledFrom(owners).Draw(t, "owner"), code.String(), m.key("unknown"))
	wantCode(t, "redeem unknown", err, giftcard.ErrNotRedeemable)
}

func (m *walletMachine) RedeemTypo(t *rapid.T) {
	c := m.pickCard(t)
	typo := []byte(c.code.String())
	i := rapid.SampledFrom([]int{0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16}).Draw(t, "pos")
	typo[i] = map[bool]byte{true: 'X', false: 'Y'}[typo[i] != 'X']
	_, err := m.env.Wallet.Redeem(context.Background(), "alice", string(typo), m.key("typo"))
	wantCode(t, "redeem typo", err, codefmt.ErrChecksum)
}

func (m *walletMachine) Retry(t *rapid.T) {
	if len(m.calls) == 0 {
		t.Skip("no calls yet")
	}
	c := m.calls[rapid.IntRange(0, len(m.calls)-1).Draw(t, "call")]
	res, err := m.env.Wallet.Redeem(context.Background(), c.owner, c.code, c.key)
	if (err == nil) != (c.err == nil) || (err != nil && err.Error() != c.err.Error()) {
		t.Fatalf("retry of %s: error %v; first call said %v", c.key, err, c.err)
	}
	if err == nil && (!res.Replayed || res.Entry.Seq != c.res.Entry.Seq || res.Balance != c.res.Balance) {
		t.Fatalf("retry of %s: %+v; first call returned %+v", c.key, res, c.res)
	}
}

func (m *walletMachine) Debit(t *rapid.T) {
	k := acctKey{rapid.SampledFrom(owners).Draw(t, "owner"), rapid.SampledFrom(currencies).Draw(t, "currency")}
	m.expire(m.env.Clock.Now())
	bal := m.balance(k)
	amount := rapid.Int64Range(1, bal+100).Draw(t, "minor")
	_, err := m.env.Wallet.Debit(context.Background(), k.owner, giftkit.FromMinor(amount, k.cur), "order", m.key("debit"))
	if amount > bal {
		wantCode(t, "debit", err, wallet.ErrInsufficientFunds)
		return
	}
	if err != nil {
		t.Fatalf("debit %d of %d: %v", amount, bal, err)
	}
	for i := range m.lots[k] { // soonest-expiring first
		take := min(m.lots[k][i].minor, amount)
		m.lots[k][i].minor -= take
		amount -= take
	}
}

func (m *walletMachine) Refund(t *rapid.T) {
	k := acctKey{rapid.SampledFrom(owners).Draw(t, "owner"), rapid.SampledFrom(currencies).Draw(t, "currency")}
	amount := rapid.Int64Range(1, 5000).Draw(t, "minor")
	if _, err := m.env.Wallet.Refund(context.Background(), k.owner, giftkit.FromMinor(amount, k.cur), "order", m.key("refund")); err != nil {
		t.Fatalf("refund: %v", err)
	}
	m.expire(m.env.Clock.Now())
	m.addLot(k, modelLot{minor: amount})
}

func (m *walletMachine) Advance(t *rapid.T) {
	m.env.Clock.Advance(time.Duration(rapid.IntRange(1, 72).Draw(t, "hours")) * time.Hour)
}

// Check runs after every step: the system agrees with the model, and the
// invariants of DESIGN.md §4 hold in the system's own data.
func (m *walletMachine) Check(t *rapid.T) {
	ctx := context.Background()
	now := m.env.Clock.Now()
	m.expire(now)
	flows := map[giftkit.Currency]map[wallet.EntryKind]int64{}
	balances := map[giftkit.Currency]int64{}
	for _, owner := range owners {
		for _, cur := range currencies {
			b, err := m.env.Wallet.Balance(ctx, owner, cur)
			if err != nil {
				t.Fatal(err)
			}
			if want := m.balance(acctKey{owner, cur}); b.Balance.Minor() != want || b.Available != b.Balance {
				t.Fatalf("%s %v: balance %+v; model says %d minor units", owner, cur, b, want)
			}
			if b.Balance.IsNegative() {
				t.Fatalf("%s %v overdrawn: %v", owner, cur, b.Balance)
			}
			balances[cur] += b.Balance.Minor()
			page, err := m.env.Wallet.History(ctx, owner, cur, 0, wallet.MaxPageSize)
			if err != nil {
				t.Fatal(err)
			}
			if flows[cur] == nil {
				flows[cur] = map[wallet.EntryKind]int64{}
			}
			var sum int64
			for i, e := range page.Entries {
				if e.Seq != int64(i+1) {
					t.Fatalf("%s %v: entry %d has seq %d", owner, cur, i, e.Seq)
				}
				sum += e.Amount.Minor()
				flows[cur][e.Kind] += e.Amount.Minor()
				if i+1 < len(page.Entries) || page.Next == 0 {
					continue
				}
			}
			if sum != b.Balance.Minor() {
				t.Fatalf("%s %v: journal sums to %d; balance %v", owner, cur, sum, b.Balance)
			}
		}
	}
	unredeemed, voided := map[giftkit.Currency]int64{}, map[giftkit.Currency]int64{}
	for _, c := range m.cards {
		got, err := m.env.Cards.Card(ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != c.state || got.RedeemedBy != c.redeemer {
			t.Fatalf("card %s: %v by %q; model says %v by %q", c.id, got.State, got.RedeemedBy, c.state, c.redeemer)
		}
		switch got.State {
		case giftcard.StateVoided:
			voided[got.Value.Currency()] += got.Value.Minor()
		case giftcard.StateRedeemed:
		default:
			unredeemed[got.Value.Currency()] += got.Value.Minor()
		}
	}
	// Conservation: issued = unredeemed + balances + spent − refunded + expired + voided.
	for _, cur := range currencies {
		f := flows[cur]
		spent, refunded, expired := -f[wallet.EntryCapture], f[wallet.EntryRefund], -f[wallet.EntryExpiry]
		if got := unredeemed[cur] + balances[cur] + spent - refunded + expired + voided[cur]; got != m.issued[cur] {
			t.Fatalf("%v: unredeemed %d + balances %d + spent %d − refunded %d + expired %d + voided %d = %d; issued %d",
				cur, unredeemed[cur], balances[cur], spent, refunded, expired, voided[cur], got, m.issued[cur])
		}
		if credited := f[wallet.EntryCredit]; credited+unredeemed[cur]+voided[cur] != m.issued[cur] {
			t.Fatalf("%v: credits %d + unredeemed %d + voided %d != issued %d: a card was credited twice or not at all",
				cur, credited, unredeemed[cur], voided[cur], m.issued[cur])
		}
	}
}

func TestWalletStateMachine(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		store := memstore.New()
		m := &walletMachine{
			env: storetest.NewEnv(t, store, 9), store: store,
			lots: map[acctKey][]modelLot{}, issued: map[giftkit.Currency]int64{},
		}
		t.Repeat(rapid.StateMachineActions(m))
	})
}
