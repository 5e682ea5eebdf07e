package wallet_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/wallet"
)

func sampleState(t *testing.T) wallet.AccountState {
	t.Helper()
	a := wallet.NewAccount("alice", eur)
	a, _, _ = a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: eurs("10"), ExpiresAt: t0.Add(time.Hour), Source: "c1"}, "k1", t0)
	a, _, _ = a.Credit(wallet.CreditSpec{Kind: wallet.EntryRefund, Amount: eurs("5"), Source: "r1"}, "k2", t0)
	a, _, err := a.PlaceHold(wallet.HoldSpec{ID: "h", Placer: wallet.PlacerWallet, Amount: eurs("12"), Reference: "o"}, "k3", t0)
	if err != nil {
		t.Fatal(err)
	}
	return a.State()
}

// TestRestoreAccount: an account's state restores to the same account, and
// every way a stored state can break an account's rules is refused.
func TestRestoreAccount(t *testing.T) {
	st := sampleState(t)
	a, err := wallet.RestoreAccount(st)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, a.State(), cmpopts.EquateComparable(giftkit.Money{}, giftkit.Currency{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if a.Balance() != eurs("15") || a.Held() != eurs("12") || a.Available() != eurs("3") || a.NextSeq() != 4 {
		t.Errorf("restored %v held %v available %v next %d", a.Balance(), a.Held(), a.Available(), a.NextSeq())
	}
	usd := giftkit.FromMinor(100, giftkit.USD)
	for name, corrupt := range map[string]func(*wallet.AccountState){
		"no currency":             func(s *wallet.AccountState) { s.Currency = giftkit.Currency{} },
		"sequence zero":           func(s *wallet.AccountState) { s.NextSeq = 0 },
		"lot in another currency": func(s *wallet.AccountState) { s.Lots[1].Remaining = usd },
		"reserved over remaining": func(s *wallet.AccountState) { s.Lots[0].Reserved = eurs("11") },
		"empty lot":               func(s *wallet.AccountState) { s.Lots[1].Remaining, s.Lots[1].Reserved = eurs("0"), eurs("0") },
		"lots out of order":       func(s *wallet.AccountState) { s.Lots[0], s.Lots[1] = s.Lots[1], s.Lots[0] },
		"two lots, one name":      func(s *wallet.AccountState) { s.Lots[1].ID = s.Lots[0].ID },
		"hold not its parts":      func(s *wallet.AccountState) { s.Holds[0].Amount = eurs("13") },
		"part on no lot":          func(s *wallet.AccountState) { s.Holds[0].Parts[0].LotID = "lot-99" },
		"reserve unaccounted":     func(s *wallet.AccountState) { s.Holds = nil },
		"negative part":           func(s *wallet.AccountState) { s.Holds[0].Parts[0].Amount = eurs("-1") },
		"duplicate hold":          func(s *wallet.AccountState) { s.Holds = append(s.Holds, s.Holds[0]) },
	} {
		s := sampleState(t)
		corrupt(&s)
		if _, err := wallet.RestoreAccount(s); !errors.Is(err, wallet.ErrCorrupt) {
			t.Errorf("%s: RestoreAccount = %v; want ErrCorrupt", name, err)
		}
	}
}

// TestCreditOverflow: a credit the balance cannot hold is refused with
// ErrInvalidAmount, and the account is unchanged.
func TestCreditOverflow(t *testing.T) {
	a := wallet.NewAccount("alice", eur)
	big := giftkit.FromMinor(1<<62, eur)
	a, _, err := a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: big}, "k1", t0)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: big}, "k2", t0)
	if !errors.Is(err, wallet.ErrInvalidAmount) || b.Balance() != big || b.NextSeq() != 2 {
		t.Errorf("second credit: %v, balance %v; want ErrInvalidAmount and no change", err, b.Balance())
	}
}

// TestRefusedHoldLeavesAccount: a hold refused for want of funds returns
// the account unchanged, a valid value like every other.
func TestRefusedHoldLeavesAccount(t *testing.T) {
	a := wallet.NewAccount("alice", eur)
	a, _, _ = a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: eurs("10")}, "k1", t0)
	got, _, err := a.PlaceHold(wallet.HoldSpec{ID: "h", Placer: wallet.PlacerWallet, Amount: eurs("11")}, "k2", t0)
	if !errors.Is(err, wallet.ErrInsufficientFunds) {
		t.Fatalf("PlaceHold = %v; want ErrInsufficientFunds", err)
	}
	if _, err := wallet.RestoreAccount(got.State()); err != nil || got.Held() != eurs("0") || got.Lots()[0].Reserved != eurs("0") {
		t.Errorf("refused hold left %+v (%v)", got.State(), err)
	}
}
