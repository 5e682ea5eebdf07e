package giftcard_test

// Regression tests from the adversarial review of issue 17's change.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
)

// A retry of a completed issuance a day later is replayed, not refused by
// the programme's minimum validity measured from the retry's clock.
func TestIssueRetryAfterMinValidityMoved(t *testing.T) {
	ctx := context.Background()
	p := giftcard.Ireland()
	p.Zone = nil
	clock := storetest.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	s, err := giftcard.NewService(memstore.New(), giftcard.Config{Hasher: hasher(t), Now: clock.Now, Programme: &p})
	if err != nil {
		t.Fatal(err)
	}
	req := giftcard.IssueRequest{Value: euro("10.00"), ExpiresAt: clock.Now().AddDate(5, 0, 0)}
	first, err := s.Issue(ctx, req, "issue-1")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(24 * time.Hour)
	again, err := s.Issue(ctx, req, "issue-1")
	if err != nil || !again.Replayed || again.BatchID != first.BatchID {
		t.Errorf("retry a day later: %v, replayed %v; want the first outcome", err, again.Replayed)
	}
	if _, err := s.Issue(ctx, req, "issue-2"); err == nil {
		t.Error("a new issuance with the same, now too soon, expiry was accepted")
	}
}

// A retry of a completed import after a card's expiry is replayed.
func TestImportRetryAfterExpiry(t *testing.T) {
	ctx := context.Background()
	clock := storetest.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	s, _ := giftcard.NewService(memstore.New(), giftcard.Config{Hasher: hasher(t), Now: clock.Now})
	req := giftcard.ImportRequest{BatchID: "b1", Cards: []giftcard.ExternalCard{{Code: "LEGACY_0001_XYZ_9999", Balance: euro("5.00"),
		ExpiresAt: clock.Now().Add(2 * time.Hour)}}}
	if _, err := s.Import(ctx, req, "imp"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * time.Hour)
	if out, err := s.Import(ctx, req, "imp"); err != nil || !out.Replayed {
		t.Errorf("retry: %v; want the first outcome", err)
	}
}

// An imported card keeps the programme's minimum validity from its import.
func TestImportKeepsMinValidity(t *testing.T) {
	ctx := context.Background()
	p := giftcard.Ireland()
	clock := storetest.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	s, _ := giftcard.NewService(memstore.New(), giftcard.Config{Hasher: hasher(t), Now: clock.Now, Programme: &p})
	out, err := s.Import(ctx, giftcard.ImportRequest{Cards: []giftcard.ExternalCard{{Code: "LEGACY_0002_XYZ_9999", Balance: euro("5.00"),
		ExpiresAt: clock.Now().AddDate(0, 1, 0)}}}, "imp")
	if err != nil {
		t.Fatal(err)
	}
	if got, min := out.Cards[0].Card.ExpiresAt, clock.Now().AddDate(5, 0, 0); got.Before(min) {
		t.Errorf("imported card expires %v under a 5-year minimum from %v", got, clock.Now())
	}
}

// A fee's periods cannot be negative.
func TestNegativeFeePeriod(t *testing.T) {
	p := giftcard.Programme{Name: "x", Fee: &giftcard.DormancyFee{Amount: euro("1.00"),
		After: giftcard.Period{Months: 12}, Every: giftcard.Period{Days: -1}, Classes: []giftkit.ValueClass{giftkit.ClassPurchased}}}
	if err := p.Validate(); err == nil {
		t.Error("Validate accepted a fee every -1 day")
	}
	p.Fee.After, p.Fee.Every = giftcard.Period{Months: -1}, giftcard.Period{}
	if err := p.Validate(); err == nil {
		t.Error("Validate accepted a fee due a month before the last activity")
	}
}

// A card in another currency than the programme's is refused as a currency
// mismatch, at issue and at import.
func TestProgrammeCurrencyAtIssue(t *testing.T) {
	ctx := context.Background()
	p := giftcard.EUAnonymousPrepaid()
	s, _ := giftcard.NewService(memstore.New(), giftcard.Config{Hasher: hasher(t), Now: time.Now, Programme: &p})
	usd := giftkit.MustParseMoney("10.00", giftkit.MustParseCurrency("USD"))
	if _, err := s.Issue(ctx, giftcard.IssueRequest{Value: usd}, "i"); !errors.Is(err, giftkit.ErrCurrencyMismatch) {
		t.Errorf("issue a USD card under EUR rules: %v; want ErrCurrencyMismatch", err)
	}
	_, err := s.Import(ctx, giftcard.ImportRequest{Cards: []giftcard.ExternalCard{{Code: "LEGACY_9", Balance: usd}}}, "m")
	if !errors.Is(err, giftkit.ErrCurrencyMismatch) {
		t.Errorf("import a USD card under EUR rules: %v; want ErrCurrencyMismatch", err)
	}
	if _, err := s.Issue(ctx, giftcard.IssueRequest{Value: euro("150.01")}, "j"); !errors.Is(err, giftcard.ErrProgrammeLimit) {
		t.Errorf("issue above the maximum: %v; want ErrProgrammeLimit", err)
	}
}
