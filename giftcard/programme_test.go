package giftcard_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
)

func euro(s string) giftkit.Money { return giftkit.MustParseMoney(s, giftkit.EUR) }

func TestPresetsValidate(t *testing.T) {
	for _, p := range []giftcard.Programme{giftcard.EUAnonymousPrepaid(), giftcard.USCardAct(), giftcard.Ireland()} {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
	}
	fr := giftcard.France()
	if err := fr.Validate(); !errors.Is(err, giftcard.ErrInvalidProgramme) || !errors.Is(err, giftkit.ErrInvalid) {
		t.Errorf("France without a disclosure: %v; want ErrInvalidProgramme", err)
	}
	fr.Disclosure = "Valable 12 mois à compter de l'achat, sans frais."
	if err := fr.Validate(); err != nil {
		t.Errorf("France with a disclosure: %v", err)
	}
	var none *giftcard.Programme
	if err := none.Validate(); err != nil || none.CheckCardValue(euro("1000000")) != nil {
		t.Errorf("a nil programme imposes nothing: %v", err)
	}
}

// One test per rule of Validate.
func TestProgrammeRules(t *testing.T) {
	usd := giftkit.MustParseMoney("10", giftkit.MustParseCurrency("USD"))
	fee := func(classes ...giftkit.ValueClass) *giftcard.DormancyFee {
		return &giftcard.DormancyFee{Amount: usd, After: giftcard.Period{Months: 12}, Classes: classes}
	}
	for name, p := range map[string]giftcard.Programme{
		"negative limit":              {MaxCardBalance: euro("-1")},
		"limits in two currencies":    {MaxCardBalance: euro("100"), MaxRemotePayment: usd},
		"minimum above maximum":       {MinCardValue: euro("50"), MaxCardValue: euro("20")},
		"card value above balance":    {MaxCardValue: euro("200"), MaxCardBalance: euro("150")},
		"negative validity":           {MinValidity: giftcard.Period{Years: -1}},
		"fee on an exempt class":      {Fee: fee(giftkit.ClassPromotional), NoFeeClasses: []giftkit.ValueClass{giftkit.ClassPromotional}},
		"fee without classes":         {Fee: fee()},
		"fee too soon":                {Fee: &giftcard.DormancyFee{Amount: usd, After: giftcard.Period{Months: 6}, Classes: []giftkit.ValueClass{giftkit.ClassPurchased}}, MinFeeInactivity: giftcard.Period{Months: 12}},
		"fee of nothing":              {Fee: &giftcard.DormancyFee{After: giftcard.Period{Months: 12}, Classes: []giftkit.ValueClass{giftkit.ClassPurchased}}},
		"fee without inactivity":      {Fee: &giftcard.DormancyFee{Amount: usd, Classes: []giftkit.ValueClass{giftkit.ClassPurchased}}},
		"disclosure required":         {RequireDisclosure: true},
		"fee under Irish rules":       withFee(giftcard.Ireland(), fee(giftkit.ClassPurchased)),
		"fee on US promotional value": withFee(giftcard.USCardAct(), fee(giftkit.ClassPromotional)),
	} {
		if err := p.Validate(); !errors.Is(err, giftcard.ErrInvalidProgramme) {
			t.Errorf("%s: Validate = %v; want ErrInvalidProgramme", name, err)
		}
	}
	us := withFee(giftcard.USCardAct(), fee(giftkit.ClassPurchased))
	if err := us.Validate(); err != nil {
		t.Errorf("a fee on purchased value after 12 months under the CARD Act: %v", err)
	}
	if _, err := giftcard.NewService(memstore.New(), giftcard.Config{Hasher: hasher(t), Now: time.Now, Programme: &giftcard.Programme{RequireDisclosure: true}}); err == nil {
		t.Error("NewService accepted an invalid programme")
	}
}

func withFee(p giftcard.Programme, f *giftcard.DormancyFee) giftcard.Programme {
	p.Fee = f
	return p
}

func TestLimits(t *testing.T) {
	p := giftcard.EUAnonymousPrepaid()
	ireland := giftcard.Ireland()
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"card value at the maximum", p.CheckCardValue(euro("150")), nil},
		{"card value above", p.CheckCardValue(euro("150.01")), giftcard.ErrProgrammeLimit},
		{"card value in another currency", p.CheckCardValue(giftkit.MustParseMoney("10", giftkit.JPY)), giftkit.ErrCurrencyMismatch},
		{"balance above", p.CheckCardBalance(euro("150.01")), giftcard.ErrProgrammeLimit},
		{"monthly load above", p.CheckMonthlyLoad(euro("150.01")), giftcard.ErrProgrammeLimit},
		{"account balance: no limit", p.CheckAccountBalance(euro("1000000")), nil},
		{"reloadable", p.CheckReloadable(), nil},
		{"not reloadable", ireland.CheckReloadable(), giftcard.ErrProgrammeLimit},
	} {
		if !errors.Is(tc.err, tc.want) || (tc.want == nil) != (tc.err == nil) {
			t.Errorf("%s: %v; want %v", tc.name, tc.err, tc.want)
		}
		var re *giftcard.RuleError
		if tc.err != nil && !errors.As(tc.err, &re) {
			t.Errorf("%s: %T is not a *RuleError", tc.name, tc.err)
		}
	}
	if cap, ok := p.RemoteCap(giftkit.EUR); !ok || cap != euro("50") {
		t.Errorf("RemoteCap = %v, %v; want 50 EUR", cap, ok)
	}
	if _, ok := p.RemoteCap(giftkit.JPY); ok {
		t.Error("a cap in EUR applies to JPY")
	}
}

func TestEndOfDay(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	for _, tc := range []struct{ in, want time.Time }{
		{time.Date(2027, 3, 12, 15, 0, 0, 0, paris), time.Date(2027, 3, 13, 0, 0, 0, 0, paris)},
		{time.Date(2027, 3, 12, 23, 30, 0, 0, time.UTC), time.Date(2027, 3, 14, 0, 0, 0, 0, paris)}, // already 13 March in Paris
		{time.Date(2027, 3, 13, 0, 0, 0, 0, paris), time.Date(2027, 3, 13, 0, 0, 0, 0, paris)},      // a day's start ends the day before
		{time.Date(2027, 3, 27, 12, 0, 0, 0, paris), time.Date(2027, 3, 28, 0, 0, 0, 0, paris)},     // the night clocks go forward
	} {
		if got := giftcard.EndOfDay(tc.in, paris); !got.Equal(tc.want) {
			t.Errorf("EndOfDay(%v) = %v; want %v", tc.in, got, tc.want)
		}
	}
	if got := giftcard.EndOfDay(time.Date(2027, 1, 1, 5, 0, 0, 0, time.UTC), nil); got.Hour() != 5 {
		t.Errorf("a nil zone moved the instant to %v", got)
	}
}

func TestFundsExpiry(t *testing.T) {
	p := giftcard.USCardAct()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	soon := now.AddDate(1, 0, 0)
	if got, want := p.FundsExpiry(soon, now), now.AddDate(5, 0, 0); !got.Equal(want) {
		t.Errorf("CARD Act funds expiry %v; want %v (5 years)", got, want)
	}
	if got := p.FundsExpiry(time.Time{}, now); !got.IsZero() {
		t.Errorf("value that never expires got %v", got)
	}
	// Under the CARD Act a sooner expiry is moved out to the minimum: the
	// card carries its funds.
	if exp, err := p.Expiry(soon, now); err != nil || !exp.Equal(now.AddDate(5, 0, 0)) {
		t.Errorf("Expiry under the CARD Act: %v, %v", exp, err)
	}
}

func hasher(t *testing.T) *giftcard.Hasher {
	h, err := giftcard.NewHasher(storetest.TestHashKey)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNormalizeExternal(t *testing.T) {
	for in, want := range map[string]string{
		"abcd-1234 5678-9012 345": "ABCD123456789012345",
		"6006 4912 3456 7890 12":  "60064912345678901" + "2",
		"gift_Ünïcode-42":         "GIFT_ÜNïCODE42", // only ASCII letters are upper-cased
	} {
		if got, err := giftcard.NormalizeExternal(in); err != nil || got != want {
			t.Errorf("NormalizeExternal(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", " - ", "ABCD\x00EF", strings.Repeat("A", 256), "7K3M-9PQ2R4-XW8N5", "\xff\xfe"} {
		if _, err := giftcard.NormalizeExternal(in); !errors.Is(err, giftcard.ErrExternalCode) || !errors.Is(err, giftkit.ErrInvalid) {
			t.Errorf("NormalizeExternal(%q) = %v; want ErrExternalCode", in, err)
		}
	}
	h := hasher(t)
	a, b := h.HashExternal("ABC"), h.HashExternal("ABD")
	if a == b || a == h.HashExternal("ABC ") {
		t.Error("external hashes collide")
	}
}

func TestImportAndCSV(t *testing.T) {
	ctx := context.Background()
	clock := storetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := giftcard.NewService(memstore.New(), giftcard.Config{Hasher: hasher(t), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	req := giftcard.ImportRequest{Cards: []giftcard.ExternalCard{{Code: "6006-4912-3456-7890-12", Balance: euro("12.34")},
		{Code: "legacy-77", Balance: euro("5")}}, Tags: []string{"legacy", "2025"}}
	out, err := s.Import(ctx, req, "imp")
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	c := out.Cards[1].Card
	if !c.Imported || c.Tags != "legacy,2025" || c.Masked() != "****CY77" || c.Value != euro("5") {
		t.Errorf("imported card %+v", c)
	}
	if strings.Contains(c.Masked(), "LEGACY77") {
		t.Errorf("masked %q gives the code away", c.Masked())
	}
	again, err := s.Import(ctx, req, "imp")
	if err != nil || !again.Replayed || again.Cards[0].Card.ID != out.Cards[0].Card.ID {
		t.Errorf("retried import: %v, replayed %v", err, again.Replayed)
	}
	if _, err := s.Import(ctx, giftcard.ImportRequest{Cards: []giftcard.ExternalCard{{Code: "legacy 77", Balance: euro("1")}}}, "imp2"); !errors.Is(err, giftcard.ErrInvalidRequest) {
		t.Errorf("importing a code twice: %v; want ErrInvalidRequest", err)
	}

	issued, err := s.Issue(ctx, giftcard.IssueRequest{Value: euro("25"), Count: 3, Tags: []string{"xmas"}}, "iss")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := giftcard.WriteCSV(&buf, issued); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 4 || rows[1][1] != issued.Cards[0].Code.String() || rows[1][2] != "25.00" || rows[1][6] != "xmas" {
		t.Errorf("CSV %q, %v", rows, err)
	}
	replay, _ := s.Issue(ctx, giftcard.IssueRequest{Value: euro("25"), Count: 3, Tags: []string{"xmas"}}, "iss")
	if err := giftcard.WriteCSV(&buf, replay); !errors.Is(err, giftcard.ErrNoCodes) {
		t.Errorf("CSV of a replay: %v; want ErrNoCodes", err)
	}
	if _, err := s.Issue(ctx, giftcard.IssueRequest{Value: euro("1"), Tags: []string{"a,b"}}, "bad"); !errors.Is(err, giftcard.ErrInvalidRequest) {
		t.Errorf("a tag with a comma: %v", err)
	}
	// Tags and the imported flag survive the binary form.
	var back giftcard.Card
	bin, _ := c.MarshalBinary()
	if err := back.UnmarshalBinary(bin); err != nil || back != c {
		t.Errorf("round trip %+v, %v; want %+v", back, err, c)
	}
}
