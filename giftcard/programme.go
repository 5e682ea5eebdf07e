package giftcard

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/errcode"
)

// This file is the one place a programme's rules live: what a card may be
// worth, how much a card or an account may hold and load, how long value
// stays valid, where a day ends, and which fees may ever be charged. Every
// service that issues, loads, moves or spends value asks the Programme it
// was configured with (giftcard.Config, wallet.Config and checkout.Config
// each take the same value).

// A Programme is the host's rules for a gift-card programme. The zero
// Programme (and a nil *Programme in a Config) imposes nothing beyond
// giftkit's own guarantees: cards are not reloadable, nothing is capped,
// expiries are kept to the instant they are given. Build one from a preset
// ([EUAnonymousPrepaid], [USCardAct], [Ireland], [France]) or by hand, then
// [Programme.Validate] it; services refuse an invalid one at construction.
//
// Limits are Money: a zero Money (without a currency) means no limit. Every
// limit that is set must be in one currency, the programme's; a card or an
// account in another currency is then refused by the rules that limit it
// with giftkit.ErrCurrencyMismatch, rather than compared across currencies.
type Programme struct {
	// Name names the programme in errors and disclosures, such as
	// "EU anonymous prepaid".
	Name string
	// Reloadable allows value to be added to cards after issue (wallet
	// Reload, and transfers into a card). Accounts can always be loaded,
	// within MaxAccountBalance.
	Reloadable bool
	// MinCardValue and MaxCardValue bound the value a card is issued or
	// imported with.
	MinCardValue, MaxCardValue giftkit.Money
	// MaxCardBalance is the most a card may hold at any time (its value
	// before it is spent, then its account's balance).
	MaxCardBalance giftkit.Money
	// MaxAccountBalance is the most a shopper's account may hold: a
	// redemption, load or transfer that would take it above is refused.
	MaxAccountBalance giftkit.Money
	// MaxLoadPerMonth is the most that may be loaded onto one card in a
	// calendar month (in Zone), reloads and transfers in counted together.
	MaxLoadPerMonth giftkit.Money
	// MaxRemotePayment is the most one remote payment (every checkout
	// payment: checkout is card-not-present) may take from gift cards used
	// as tenders; the rest of the order falls to the balance and the bank
	// card.
	MaxRemotePayment giftkit.Money
	// MinValidity is the shortest a card's value stays spendable, counted
	// from ValidityFrom. An issuance whose expiry is sooner is refused; an
	// issuance without an expiry gets none (value that never expires is
	// valid for longer). Zero means no minimum.
	MinValidity Period
	// ValidityFrom says where MinValidity is counted from: the card's issue
	// (ValidityFromIssue, the default) or the last load of value onto it
	// (ValidityFromLastLoad, under which a load pushes the expiry of all
	// the value on the card out to at least MinValidity from the load).
	ValidityFrom ValidityFrom
	// FundsNotCards applies MinValidity to the value, not to the plastic: a
	// card may expire sooner, but the value it was redeemed or spent into
	// (its account's credit) keeps at least MinValidity (the US CARD Act's
	// rule: the funds must stay usable, a replacement card free).
	FundsNotCards bool
	// Zone is the IANA time zone in which expiries are whole days: a card
	// "valid until 12 March" is spendable through the whole of 12 March in
	// Zone and expires at the start of 13 March there (see [EndOfDay]). Nil
	// keeps expiries at the instant given.
	Zone *time.Location
	// Disclosure is what the terms given to the buyer must say about
	// validity and fees. Required when RequireDisclosure is set.
	Disclosure string
	// RequireDisclosure makes Validate refuse a programme whose Disclosure
	// is empty (France: the issuer chooses the validity and must disclose it).
	RequireDisclosure bool
	// CancelWindow is how long after issue an unclaimed card may be
	// cancelled by its issuer (giftcard.Service.Cancel): never activated by
	// a sale or, if issued active, never redeemed or spent. Zero means 24
	// hours; a negative window turns cancellation off.
	CancelWindow time.Duration
	// Fee is a dormancy (inactivity) fee. Nil, the default, charges none.
	Fee *DormancyFee
	// NoFeeClasses are the value classes the rules exempt from any fee:
	// Validate refuses a Fee that names one of them.
	NoFeeClasses []giftkit.ValueClass
	// MinFeeInactivity is the shortest inactivity the rules allow before a
	// fee (the CARD Act: 12 months). Validate refuses a Fee with a shorter
	// After.
	MinFeeInactivity Period
}

// A Period is a span of calendar time: years, months and days, added with
// time.Time.AddDate in the programme's Zone (so a month is a calendar
// month, whatever its length).
type Period struct {
	Years  int // whole years; never negative in a valid Programme
	Months int // whole months
	Days   int // whole days
}

func (p Period) negative() bool { return p.Years < 0 || p.Months < 0 || p.Days < 0 }

// IsZero reports whether p is no time at all.
func (p Period) IsZero() bool { return p == Period{} }

// After returns t moved forward by p in loc (UTC when nil).
func (p Period) After(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).AddDate(p.Years, p.Months, p.Days)
}

// String returns the period as "5y", "12m" or "1y6m".
func (p Period) String() string {
	out := ""
	for _, f := range [...]struct {
		n    int
		unit string
	}{{p.Years, "y"}, {p.Months, "m"}, {p.Days, "d"}} {
		if f.n != 0 {
			out += fmt.Sprintf("%d%s", f.n, f.unit)
		}
	}
	if out == "" {
		return "0d"
	}
	return out
}

// ValidityFrom says where a programme's minimum validity is counted from.
type ValidityFrom uint8

// Where validity is counted from.
const (
	ValidityFromIssue    ValidityFrom = iota // the card's issue
	ValidityFromLastLoad                     // the last load of value onto the card
)

// A DormancyFee is a fee charged on value that has seen no holder activity
// for a time. Giftkit charges none unless a Programme names one, and a
// Programme whose rules exempt a class refuses a fee on it.
type DormancyFee struct {
	Amount  giftkit.Money        // charged each Every of inactivity after After; positive
	After   Period               // the inactivity before the first fee
	Every   Period               // the inactivity between fees; zero: charged once
	Classes []giftkit.ValueClass // the value classes the fee may be taken from; at least one
}

// ErrInvalidProgramme: a Programme's rules contradict each other or the
// law its preset encodes. Kind giftkit.ErrInvalid.
var ErrInvalidProgramme = fmt.Errorf("giftcard: invalid programme: %w", giftkit.ErrInvalid)

// Validate reports whether p's rules can be applied: limits positive and
// in one currency, the minimum below the maximum, a disclosure when one is
// required, and a fee only where the rules allow one. Its error wraps
// [ErrInvalidProgramme].
func (p *Programme) Validate() error {
	if p == nil {
		return nil
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidProgramme, p.label(), fmt.Sprintf(format, args...))
	}
	var cur giftkit.Currency
	for _, l := range p.limits() {
		if l.m == (giftkit.Money{}) {
			continue
		}
		switch {
		case !l.m.IsValid() || !l.m.IsPositive():
			return fail("%s must be positive, got %s", l.name, l.m)
		case cur.IsValid() && l.m.Currency() != cur:
			return fail("%s is in %s, other limits in %s", l.name, l.m.Currency().Code(), cur.Code())
		}
		cur = l.m.Currency()
	}
	if p.MinCardValue.IsValid() && p.MaxCardValue.IsValid() && p.MinCardValue.Minor() > p.MaxCardValue.Minor() {
		return fail("minimum card value %s is above the maximum %s", p.MinCardValue, p.MaxCardValue)
	}
	if p.MaxCardValue.IsValid() && p.MaxCardBalance.IsValid() && p.MaxCardValue.Minor() > p.MaxCardBalance.Minor() {
		return fail("maximum card value %s is above the maximum card balance %s", p.MaxCardValue, p.MaxCardBalance)
	}
	if p.MinValidity.negative() {
		return fail("minimum validity %s is negative", p.MinValidity)
	}
	if p.ValidityFrom > ValidityFromLastLoad {
		return fail("unknown ValidityFrom %d", p.ValidityFrom)
	}
	if p.RequireDisclosure && p.Disclosure == "" {
		return fail("the rules require a disclosure of validity and fees to the buyer")
	}
	return p.validateFee(fail)
}

func (p *Programme) validateFee(fail func(string, ...any) error) error {
	f := p.Fee
	if f == nil {
		return nil
	}
	switch {
	case !f.Amount.IsValid() || !f.Amount.IsPositive():
		return fail("a dormancy fee must be positive, got %s", f.Amount)
	case len(f.Classes) == 0:
		return fail("a dormancy fee must name the value classes it is taken from")
	case f.After.IsZero():
		return fail("a dormancy fee needs a period of inactivity before it")
	case f.After.negative() || f.Every.negative() || p.MinFeeInactivity.negative():
		return fail("a fee's periods cannot be negative")
	}
	for _, c := range f.Classes {
		if slices.Contains(p.NoFeeClasses, c) || !c.IsValid() {
			return fail("the rules exempt %s value from any fee", c)
		}
	}
	if !p.MinFeeInactivity.IsZero() {
		base := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		if f.After.After(base, nil).Before(p.MinFeeInactivity.After(base, nil)) {
			return fail("a dormancy fee may start only after %s of inactivity, not %s", p.MinFeeInactivity, f.After)
		}
	}
	return nil
}

type namedLimit struct {
	name string
	m    giftkit.Money
}

func (p *Programme) limits() []namedLimit {
	l := []namedLimit{{"minimum card value", p.MinCardValue}, {"maximum card value", p.MaxCardValue},
		{"maximum card balance", p.MaxCardBalance}, {"maximum account balance", p.MaxAccountBalance},
		{"maximum load per month", p.MaxLoadPerMonth}, {"maximum remote payment", p.MaxRemotePayment}}
	if p.Fee != nil {
		l = append(l, namedLimit{"dormancy fee", p.Fee.Amount})
	}
	return l
}

func (p *Programme) label() string {
	if p.Name == "" {
		return "programme"
	}
	return p.Name
}

// A RuleError is a refusal by a programme's rule: which rule, its limit,
// and the amount that would have broken it. It unwraps to
// [ErrProgrammeLimit] (or giftkit.ErrCurrencyMismatch for a currency the
// programme's limits are not in).
type RuleError struct {
	Programme string        // the programme's Name
	Rule      string        // the rule, such as "maximum card balance"
	Limit     giftkit.Money // the rule's limit
	Would     giftkit.Money // what the refused change would have made it
	Err       error         // ErrProgrammeLimit or giftkit.ErrCurrencyMismatch
}

// ErrProgrammeLimit: a change would break a rule of the programme (a
// balance or load above its maximum, a card value out of bounds, an expiry
// sooner than the minimum validity, a reload of a card that is not
// reloadable). Kind giftkit.ErrInvalid.
var ErrProgrammeLimit = errcode.New(giftkit.ErrInvalid, "programme limit")

// Error returns the message of the RuleError.
func (e *RuleError) Error() string {
	if e.Err == giftkit.ErrCurrencyMismatch {
		return fmt.Sprintf("giftcard: %s: %s is in %s, the programme's limits are in %s", e.Programme, e.Rule, e.Would.Currency().Code(), e.Limit.Currency().Code())
	}
	if !e.Limit.IsValid() {
		return fmt.Sprintf("giftcard: %s: %s", e.Programme, e.Rule)
	}
	return fmt.Sprintf("giftcard: %s: %s is %s, would be %s", e.Programme, e.Rule, e.Limit, e.Would)
}

// Unwrap returns the error the RuleError wraps.
func (e *RuleError) Unwrap() error { return e.Err }

// refusal puts a programme's refusal (a *RuleError) into an *Error of op,
// keeping what it wraps: ErrProgrammeLimit, or giftkit.ErrCurrencyMismatch
// for a value in another currency than the programme's limits.
func refusal(op, prefix string, err error) error {
	e := &Error{Op: op, Detail: prefix + err.Error(), Err: ErrProgrammeLimit}
	var re *RuleError
	if errors.As(err, &re) {
		e.Err = re.Err
	}
	return e
}

// check returns a *RuleError if would is above the limit named rule (no
// limit when limit is the zero Money).
func (p *Programme) check(rule string, limit, would giftkit.Money) error {
	if p == nil || limit == (giftkit.Money{}) {
		return nil
	}
	if would.Currency() != limit.Currency() {
		return &RuleError{Programme: p.label(), Rule: rule, Limit: limit, Would: would, Err: giftkit.ErrCurrencyMismatch}
	}
	if would.Minor() > limit.Minor() {
		return &RuleError{Programme: p.label(), Rule: rule, Limit: limit, Would: would, Err: ErrProgrammeLimit}
	}
	return nil
}

// CheckCardValue refuses a card issued or imported with value outside the
// programme's bounds.
func (p *Programme) CheckCardValue(value giftkit.Money) error {
	if p == nil {
		return nil
	}
	if err := p.check("maximum card value", p.MaxCardValue, value); err != nil {
		return err
	}
	if min := p.MinCardValue; min != (giftkit.Money{}) {
		if value.Currency() != min.Currency() {
			return &RuleError{Programme: p.label(), Rule: "minimum card value", Limit: min, Would: value, Err: giftkit.ErrCurrencyMismatch}
		}
		if value.Minor() < min.Minor() {
			return &RuleError{Programme: p.label(), Rule: "minimum card value", Limit: min, Would: value, Err: ErrProgrammeLimit}
		}
	}
	return p.CheckCardBalance(value)
}

// CheckCardBalance refuses a card balance above MaxCardBalance.
func (p *Programme) CheckCardBalance(balance giftkit.Money) error {
	if p == nil {
		return nil
	}
	return p.check("maximum card balance", p.MaxCardBalance, balance)
}

// CheckAccountBalance refuses a shopper's account balance above
// MaxAccountBalance.
func (p *Programme) CheckAccountBalance(balance giftkit.Money) error {
	if p == nil {
		return nil
	}
	return p.check("maximum account balance", p.MaxAccountBalance, balance)
}

// CheckMonthlyLoad refuses loads onto one card in a calendar month that
// would total more than MaxLoadPerMonth.
func (p *Programme) CheckMonthlyLoad(total giftkit.Money) error {
	if p == nil {
		return nil
	}
	return p.check("maximum load per month", p.MaxLoadPerMonth, total)
}

// CheckReloadable refuses a load onto a card of a programme whose cards
// are not reloadable.
func (p *Programme) CheckReloadable() error {
	if p == nil || p.Reloadable {
		return nil
	}
	return &RuleError{Programme: p.label(), Rule: "cards are not reloadable", Err: ErrProgrammeLimit}
}

// Currency returns the currency of the programme's limits, if it has any.
func (p *Programme) Currency() (giftkit.Currency, bool) {
	if p == nil {
		return giftkit.Currency{}, false
	}
	for _, l := range p.limits() {
		if l.m != (giftkit.Money{}) {
			return l.m.Currency(), true
		}
	}
	return giftkit.Currency{}, false
}

// RemoteCap returns the most gift cards may pay of one remote payment in
// currency c: MaxRemotePayment, or ok false when nothing caps it (no limit,
// or a limit in another currency, which the planner cannot compare).
func (p *Programme) RemoteCap(c giftkit.Currency) (giftkit.Money, bool) {
	if p == nil || p.MaxRemotePayment == (giftkit.Money{}) || p.MaxRemotePayment.Currency() != c {
		return giftkit.Money{}, false
	}
	return p.MaxRemotePayment, true
}

// MonthOf returns the start of the calendar month (in Zone) that t falls
// in: loads at or after it count towards MaxLoadPerMonth with t's.
func (p *Programme) MonthOf(t time.Time) time.Time {
	loc := time.UTC
	if p != nil && p.Zone != nil {
		loc = p.Zone
	}
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
}

// EndOfDay returns the first instant after the day on which t falls in
// loc: the expiry of something "valid until" that day, spendable through
// all of it. An instant that is already the start of a day in loc is kept:
// it ends the day before. A nil loc returns t unchanged.
func EndOfDay(t time.Time, loc *time.Location) time.Time {
	if loc == nil || t.IsZero() {
		return t
	}
	l := t.In(loc)
	start := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	if start.Equal(t) {
		return t
	}
	return time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc)
}

// Expiry returns the expiry a card issued at issued with the requested
// expiry (zero: none) gets under p: moved to the end of its day in Zone,
// and refused with a *RuleError when it is sooner than MinValidity from
// issue. Under FundsNotCards a sooner expiry is moved out to the minimum
// instead: giftkit keeps no plastic apart from the value, so the card
// carries its funds for as long as the rules keep them (the replacement
// card the CARD Act requires is the same card).
func (p *Programme) Expiry(requested, issued time.Time) (time.Time, error) {
	if p == nil || requested.IsZero() {
		return requested, nil
	}
	exp := EndOfDay(requested, p.Zone)
	if p.MinValidity.IsZero() {
		return exp, nil
	}
	min := EndOfDay(p.MinValidity.After(issued, p.Zone), p.Zone)
	if p.FundsNotCards && exp.Before(min) {
		return min, nil
	}
	if exp.Before(min) {
		return time.Time{}, &RuleError{Programme: p.label(),
			Rule: fmt.Sprintf("value must stay valid for at least %s from issue (until %s); the expiry asked for is %s",
				p.MinValidity, min.Format(time.RFC3339), exp.Format(time.RFC3339)), Err: ErrProgrammeLimit}
	}
	return exp, nil
}

// FundsExpiry returns the expiry that value loaded or redeemed at at,
// which would otherwise expire at exp (zero: never), keeps under p: at
// least MinValidity from at when validity counts from the last load, or
// when FundsNotCards puts the minimum on the funds; and always at the end
// of a day in Zone.
func (p *Programme) FundsExpiry(exp, at time.Time) time.Time {
	if p == nil || exp.IsZero() {
		return exp
	}
	exp = EndOfDay(exp, p.Zone)
	if p.MinValidity.IsZero() || (p.ValidityFrom != ValidityFromLastLoad && !p.FundsNotCards) {
		return exp
	}
	if min := p.LoadExpiry(at); exp.Before(min) {
		return min
	}
	return exp
}

// ImportExpiry returns the expiry of a card of another programme imported
// at at whose expiry there was exp (zero: never): at the end of its day in
// Zone, and no sooner than MinValidity from the import, since the holder's
// value comes under this programme's rules when it is imported.
func (p *Programme) ImportExpiry(exp, at time.Time) time.Time {
	if p == nil || exp.IsZero() {
		return exp
	}
	exp = EndOfDay(exp, p.Zone)
	if min := p.LoadExpiry(at); exp.Before(min) {
		return min
	}
	return exp
}

// LoadExpiry returns the soonest instant value on a card may expire after
// a load at at: the end of the day MinValidity after at, in Zone. Zero when
// there is no minimum.
func (p *Programme) LoadExpiry(at time.Time) time.Time {
	if p == nil || p.MinValidity.IsZero() {
		return time.Time{}
	}
	return EndOfDay(p.MinValidity.After(at, p.Zone), p.Zone)
}

// LoadsExtendValidity reports whether a load pushes the expiry of value
// already on a card out (ValidityFromLastLoad with a MinValidity).
func (p *Programme) LoadsExtendValidity() bool {
	return p != nil && p.ValidityFrom == ValidityFromLastLoad && !p.MinValidity.IsZero()
}

// CancelWindowOrDefault returns how long after issue an unclaimed card may
// be cancelled: CancelWindow, 24 hours when zero, and ok false when
// cancellation is off.
func (p *Programme) CancelWindowOrDefault() (time.Duration, bool) {
	if p == nil || p.CancelWindow == 0 {
		return 24 * time.Hour, true
	}
	return p.CancelWindow, p.CancelWindow > 0
}

// The presets. Each encodes one rule set as giftkit reads it; check them
// with your counsel, and add what your programme needs (a Zone, a Name)
// before Validate.

// EUAnonymousPrepaid returns the rules under which an anonymous prepaid
// card is exempt from customer due diligence under the EU anti-money-
// laundering directive (Directive (EU) 2015/849 art. 12 as amended by
// 2018/843): at most 150 EUR stored on a card, reloads at most 150 EUR a
// month, and remote payments at most 50 EUR.
func EUAnonymousPrepaid() Programme {
	eur := giftkit.MustParseCurrency("EUR")
	return Programme{
		Name: "EU anonymous prepaid", Reloadable: true,
		MaxCardValue: giftkit.FromMinor(15000, eur), MaxCardBalance: giftkit.FromMinor(15000, eur),
		MaxLoadPerMonth: giftkit.FromMinor(15000, eur), MaxRemotePayment: giftkit.FromMinor(5000, eur),
	}
}

// USCardAct returns the United States CARD Act's rules for gift cards (15
// U.S.C. 1693l-1): funds stay valid at least five years from issue or the
// last load, whichever is later, even when the card itself expires sooner
// (funds, not cards); a dormancy fee only after twelve months without
// activity, and never on promotional value, which the Act exempts.
func USCardAct() Programme {
	return Programme{
		Name: "US CARD Act", Reloadable: true,
		MinValidity: Period{Years: 5}, ValidityFrom: ValidityFromLastLoad, FundsNotCards: true,
		MinFeeInactivity: Period{Months: 12}, NoFeeClasses: []giftkit.ValueClass{giftkit.ClassPromotional},
	}
}

// Ireland returns the rules of Ireland's Consumer Protection (Gift
// Vouchers) Act 2019: a gift voucher is valid at least five years from
// issue, and no fee may reduce its value.
func Ireland() Programme {
	return Programme{
		Name: "Ireland", MinValidity: Period{Years: 5}, ValidityFrom: ValidityFromIssue,
		NoFeeClasses: giftkit.Classes(), Zone: mustZone("Europe/Dublin"),
	}
}

// France returns French rules for cartes cadeaux: the issuer chooses the
// validity and must disclose it, with the terms of use, to the buyer
// (Code de la consommation, art. L. 224-115 ff.), so Validate refuses the
// programme until Disclosure says it.
func France() Programme {
	return Programme{Name: "France", RequireDisclosure: true, Zone: mustZone("Europe/Paris")}
}

// mustZone loads a zone from the system's database, or from Go's embedded
// one (import time/tzdata) on a system without it; without either it
// returns nil, and expiries keep the instant given.
func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	return loc
}
