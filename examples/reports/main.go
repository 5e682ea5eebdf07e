// Command reports scripts one year of a small gift-card programme and prints
// the reports its operators read at the end of it:
//
//	go run ./examples/reports
//
// A shop sells gift cards all through 2026, in euros and, a few, in pounds:
// digital cards of a few values every month, and printed cards that are
// issued pending a quarter at a time and activated at the till when sold.
// In March marketing gives away promotional cards that lapse at the end of
// August. Shoppers redeem their cards after a few days, a few months or
// never, and spend the balance on orders paid through checkout (the balance
// first, a bank card for the rest) or at the till (wallet.Debit). Along the
// way the support desk refunds part of a returned order and credits a
// shopper a goodwill adjustment, finance claws back a card whose purchase
// was charged back after its holder had spent most of it, and a card sold
// twice by mistake is voided. Every call carries who made it
// (giftkit.WithActor): shoppers as giftkit.Shopper, the shop's systems as
// giftkit.Client("shop"), staff as giftkit.Operator, with a reason for the
// changes only staff may make.
//
// At the end it prints what package ledger reads from the activity log
// alone: the liability at year end and, as it stood then, at mid-year, per
// currency and value class; the redemption curve of each month's cohort;
// the cards and accounts dormant since July; the outcome of the clawback;
// and that ledger.Service.VerifyAll found every chain of records intact. At
// mid-year the script also reads every balance and card through the
// services, live, as a cross-check of the figure the ledger later rebuilds
// for that instant (a test holds the two equal).
//
// Everything runs in memory (memstore) with a clock the script moves, a
// seeded random source for the codes and another for the shoppers'
// choices, and a fake card processor, so the output is the same on every
// run (a test checks it). A real service passes time.Now, nil
// (crypto/rand) and its processor.
package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/ledger"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/wallet"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "reports:", err)
		os.Exit(1)
	}
}

// The instants of the year that the reports are read at.
var (
	yearStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	midYear   = time.Date(2026, 6, 30, 23, 59, 59, 0, time.UTC) // the last second of June
	yearEnd   = time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)
	// dormantSince is the start of the dormancy report's window: cards and
	// accounts with no holder activity since then are listed.
	dormantSince = time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	// promoExpiry is when the spring campaign's cards, and the credit they
	// make, lapse: the first instant of September.
	promoExpiry = time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
)

// clock is the script's time: each event sets it to its own instant.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// An event is one step of the script, run at its instant; events of the
// same instant run in the order they were scheduled.
type event struct {
	at  time.Time
	run func() error
}

// agenda is the script's events still to run, in order.
type agenda []event

// add schedules run at at; an event after the year is dropped.
func (a *agenda) add(at time.Time, run func() error) {
	if at.After(yearEnd) {
		return
	}
	i, _ := slices.BinarySearchFunc(*a, at, func(e event, t time.Time) int {
		if e.at.After(t) {
			return 1
		}
		return -1 // before or at t: after every event already at t
	})
	*a = slices.Insert(*a, i, event{at, run})
}

// A card is one the script issued, as the shop knows it.
type card struct {
	id     string
	code   codefmt.Code
	value  giftkit.Money
	holder string // who was given it; empty for unsold stock
}

// An account is an owner's balance in one currency.
type account struct {
	owner string
	cur   giftkit.Currency
}

// Live is what the services said, read one by one at an instant during the
// script: the value of the cards the shop owes (sold, not redeemed, voided
// or expired) by currency and class, and the accounts' balances by
// currency, as the shoppers saw them then.
type Live struct {
	At       time.Time
	Cards    map[giftkit.Currency]map[giftkit.ValueClass]int64 // minor units
	Accounts map[giftkit.Currency]int64                        // minor units
}

// Total returns the live cards' value plus the accounts' balances in c.
func (l Live) Total(c giftkit.Currency) giftkit.Money {
	n := l.Accounts[c]
	for _, v := range l.Cards[c] {
		n += v
	}
	return giftkit.FromMinor(n, c)
}

// stats counts what the script did, for its summary.
type stats struct {
	sold        map[giftkit.Currency]int // purchased cards sold, physical ones included
	physical    int                      // physical cards activated on sale
	printed     int                      // physical cards printed (issued pending)
	promos      int
	redeemed    int
	checkouts   int // orders paid through checkout
	tills       int // payments at the till (wallet.Debit)
	byCard      giftkit.Money
	fromBalance map[giftkit.Currency]int64
}

// programme is the script's world: the services over one store, the
// clock, the shoppers' choices, and what the shop knows of its cards and
// accounts.
type programme struct {
	ctx    context.Context
	clk    *clock
	cards  *giftcard.Service
	wallet *wallet.Service
	shop   *checkout.Service
	ledger *ledger.Service
	rng    *rand.Rand
	agenda agenda

	issued   []*card // every card, in order of issue
	stock    []*card // printed cards not sold yet, oldest first
	accounts []account
	seen     map[account]bool
	keys     int // idempotency keys handed out
	orders   int // order numbers handed out
	stats    stats

	live        Live            // read at midYear
	clawback    wallet.Clawback // the clawback's outcome
	clawCard    *card           // the card clawed back
	clawSpent   giftkit.Money   // what its holder had spent of it
	voided      *card           // the card voided
	refund      checkout.Refund // the partial refund
	adjusted    wallet.Balance  // the goodwill adjustment's outcome
	promoIssued giftkit.Money   // the value of one promotional card
	records     int             // activity records at year end
	chains      map[string]int  // chains of records by subject kind
	breaks      []*activity.BreakError
}

// The actors. Every change the script makes carries one.
func (p *programme) asShop() context.Context { return giftkit.WithActor(p.ctx, giftkit.Client("shop")) }

func (p *programme) asShopper(name string) context.Context {
	return giftkit.WithActor(p.ctx, giftkit.Shopper(name))
}

func (p *programme) asStaff(id, reason string) context.Context {
	return giftkit.WithReason(giftkit.WithActor(p.ctx, giftkit.Operator(id)), reason)
}

// key returns a new idempotency key for op.
func (p *programme) key(op string) string {
	p.keys++
	return fmt.Sprintf("%s-%04d", op, p.keys)
}

// The shoppers the shop's cards go to, at random. The shoppers of the
// scripted scenes (ana, ben, zoe) get none of them, so that their balances
// are what the scenes say.
var shoppers = []string{"chloe", "dara", "eli", "fin", "gus", "hana", "ivo", "jade", "kai", "lou"}

func eur(s string) giftkit.Money { return giftkit.MustParseMoney(s, giftkit.EUR) }
func gbp(s string) giftkit.Money { return giftkit.MustParseMoney(s, giftkit.GBP) }

// at returns an instant of 2026: month, day, hour and minute, UTC.
func at(month time.Month, day, hour, minute int) time.Time {
	return time.Date(2026, month, day, hour, minute, 0, 0, time.UTC)
}

func run(w io.Writer) error {
	p, err := simulate()
	if err != nil {
		return err
	}
	return p.report(w)
}

// simulate runs the year's script and returns its world.
func simulate() (*programme, error) {
	store := memstore.New()
	hasher, err := giftcard.NewHasher([]byte("reports-example-secret-key-32-bytes!"))
	if err != nil {
		return nil, err
	}
	clk := &clock{now: yearStart}
	p := &programme{ctx: context.Background(), clk: clk, rng: rand.New(rand.NewChaCha8([32]byte{'y', 'e', 'a', 'r'})),
		seen: map[account]bool{}, chains: map[string]int{},
		stats: stats{sold: map[giftkit.Currency]int{}, fromBalance: map[giftkit.Currency]int64{}, byCard: eur("0")}}
	if p.cards, err = giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: clk.Now, Rand: rand.NewChaCha8([32]byte{'c', 'o', 'd', 'e'})}); err != nil {
		return nil, err
	}
	if p.wallet, err = wallet.NewService(store, wallet.Config{Hasher: hasher, Now: clk.Now}); err != nil {
		return nil, err
	}
	if p.shop, err = checkout.NewService(store, processortest.New(), checkout.Config{Now: clk.Now}); err != nil {
		return nil, err
	}
	if p.ledger, err = ledger.NewService(store); err != nil {
		return nil, err
	}
	p.plan()
	for len(p.agenda) > 0 {
		e := p.agenda[0]
		p.agenda = p.agenda[1:]
		clk.now = e.at
		if err := e.run(); err != nil {
			return nil, fmt.Errorf("%s: %w", e.at.Format(time.DateTime), err)
		}
	}
	clk.now = yearEnd
	return p, nil
}

// plan schedules the year: the routine of every month, and the scenes.
func (p *programme) plan() {
	for _, q := range []time.Month{time.January, time.April, time.July, time.October} {
		p.agenda.add(at(q, 1, 8, 0), func() error { return p.print(4) })
	}
	for m := time.January; m <= time.December; m++ {
		// Two digital cards and one printed card a month, in euros; a
		// digital card in pounds every quarter.
		for range 2 {
			value := eur([]string{"25.00", "50.00", "100.00"}[p.rng.IntN(3)])
			p.agenda.add(p.someday(m), func() error { return p.sell(value, shoppers[p.rng.IntN(len(shoppers))]) })
		}
		p.agenda.add(p.someday(m), func() error { return p.sellPrinted(shoppers[p.rng.IntN(len(shoppers))]) })
		if m%3 == 2 {
			value := gbp([]string{"15.00", "20.00", "30.00"}[p.rng.IntN(3)])
			p.agenda.add(p.someday(m), func() error { return p.sell(value, shoppers[p.rng.IntN(len(shoppers))]) })
		}
	}
	p.agenda.add(at(time.March, 2, 9, 0), p.campaign)
	p.agenda.add(midYear, p.readLive)
	p.sceneRefund()
	p.sceneGoodwill()
	p.sceneClawback()
	p.sceneVoid()
}

// someday returns a random working hour of a day of month m.
func (p *programme) someday(m time.Month) time.Time {
	return at(m, 1+p.rng.IntN(28), 9+p.rng.IntN(9), p.rng.IntN(60))
}

// touch notes an account the script has changed.
func (p *programme) touch(owner string, c giftkit.Currency) {
	if a := (account{owner, c}); !p.seen[a] {
		p.seen[a] = true
		p.accounts = append(p.accounts, a)
	}
}

// print has the back office issue n printed cards of 50.00 EUR, pending
// until sold, valid for two years.
func (p *programme) print(n int) error {
	ctx := p.asStaff("olu", "quarterly print run of shop cards")
	batch, err := p.cards.Issue(ctx, giftcard.IssueRequest{Value: eur("50.00"), Count: n, Pending: true,
		ExpiresAt: p.clk.now.AddDate(2, 0, 0)}, p.key("print"))
	if err != nil {
		return err
	}
	for _, ic := range batch.Cards {
		c := &card{id: ic.Card.ID, code: ic.Code, value: ic.Card.Value}
		p.issued = append(p.issued, c)
		p.stock = append(p.stock, c)
	}
	p.stats.printed += n
	return nil
}

// sell has the shop sell a digital card of value, valid for a year, to be
// given to holder, who will redeem it some day, or never.
func (p *programme) sell(value giftkit.Money, holder string) error {
	c, err := p.issue(p.asShop(), giftcard.IssueRequest{Value: value, ExpiresAt: p.clk.now.AddDate(1, 0, 0)}, holder)
	if err != nil {
		return err
	}
	p.stats.sold[value.Currency()]++
	p.later(c)
	return nil
}

// issue issues one card and keeps it.
func (p *programme) issue(ctx context.Context, req giftcard.IssueRequest, holder string) (*card, error) {
	batch, err := p.cards.Issue(ctx, req, p.key("issue"))
	if err != nil {
		return nil, err
	}
	ic := batch.Cards[0]
	c := &card{id: ic.Card.ID, code: ic.Code, value: ic.Card.Value, holder: holder}
	p.issued = append(p.issued, c)
	return c, nil
}

// sellPrinted has the till activate the oldest printed card in stock.
func (p *programme) sellPrinted(holder string) error {
	c := p.stock[0]
	p.stock = p.stock[1:]
	if _, err := p.cards.Activate(p.asShop(), c.id, p.key("activate")); err != nil {
		return err
	}
	c.holder = holder
	p.stats.sold[giftkit.EUR]++
	p.stats.physical++
	p.later(c)
	return nil
}

// later decides when the card's holder redeems it: within a week, within
// a month and a half, within five months, or never; and whether they then
// spend it.
func (p *programme) later(c *card) {
	var days int
	switch r := p.rng.IntN(100); {
	case r < 35:
		days = p.rng.IntN(7)
	case r < 60:
		days = 7 + p.rng.IntN(39)
	case r < 80:
		days = 46 + p.rng.IntN(105)
	default:
		return // kept in a drawer
	}
	when := p.clk.now.AddDate(0, 0, days).Add(time.Duration(1+p.rng.IntN(8)) * time.Hour)
	p.agenda.add(when, func() error {
		if _, err := p.redeem(c); err != nil {
			return err
		}
		if p.rng.IntN(4) > 0 { // three in four spend some of it
			share := []int64{50, 80, 100, 150}[p.rng.IntN(4)]
			p.agenda.add(p.clk.now.AddDate(0, 0, 2+p.rng.IntN(40)), func() error { return p.spend(c.holder, c.value, share) })
		}
		return nil
	})
}

// redeem has the card's holder redeem its code into their account.
func (p *programme) redeem(c *card) (wallet.Redeemed, error) {
	got, err := p.wallet.Redeem(p.asShopper(c.holder), c.holder, c.code.String(), p.key("redeem"))
	if err != nil {
		return got, err
	}
	p.touch(c.holder, c.value.Currency())
	p.stats.redeemed++
	return got, nil
}

// spend has owner pay for something worth share percent of value: an
// order through checkout in euros (the balance first, a bank card for the
// rest), or at the till in pounds, up to the balance.
func (p *programme) spend(owner string, value giftkit.Money, share int64) error {
	cur := value.Currency()
	total := value.Minor() * share / 100 / 100 * 100 // whole units
	if cur == giftkit.GBP {
		b, err := p.wallet.Balance(p.ctx, owner, cur)
		if err != nil {
			return err
		}
		amount := giftkit.FromMinor(min(total, b.Available.Minor()), cur)
		if !amount.IsPositive() {
			return nil
		}
		if _, err := p.wallet.Debit(p.asShop(), owner, amount, p.orderID(), p.key("till")); err != nil {
			return err
		}
		p.stats.tills++
		p.stats.fromBalance[cur] += amount.Minor()
		return nil
	}
	_, err := p.pay(owner, giftkit.FromMinor(total, cur))
	return err
}

// orderID returns a new order number.
func (p *programme) orderID() string {
	p.orders++
	return fmt.Sprintf("order-%04d", p.orders)
}

// pay has owner pay an order of total through checkout.
func (p *programme) pay(owner string, total giftkit.Money) (checkout.Payment, error) {
	pay, err := p.shop.Pay(p.asShopper(owner), checkout.PayRequest{PaymentID: p.orderID(), Owner: owner, Total: total,
		Instrument: "tok_visa_4242"}, p.key("pay"))
	if err != nil {
		return pay, err
	}
	p.stats.checkouts++
	p.stats.fromBalance[total.Currency()] += pay.Balance.Captured.Minor()
	if p.stats.byCard, err = p.stats.byCard.Add(pay.Card.Captured); err != nil {
		return pay, err
	}
	return pay, nil
}

// campaign: marketing gives away ten promotional cards of 10.00 EUR, one
// to each shopper, that lapse with August; most are redeemed, some never.
func (p *programme) campaign() error {
	ctx := p.asStaff("mia", "spring campaign")
	p.promoIssued = eur("10.00")
	for _, holder := range shoppers {
		c, err := p.issue(ctx, giftcard.IssueRequest{Value: p.promoIssued, ExpiresAt: promoExpiry, Class: giftkit.ClassPromotional}, holder)
		if err != nil {
			return err
		}
		p.stats.promos++
		if p.rng.IntN(10) < 4 {
			continue // not taken up: it expires on the card
		}
		days := p.rng.IntN(150)
		p.agenda.add(p.clk.now.AddDate(0, 0, days).Add(time.Duration(1+p.rng.IntN(8))*time.Hour), func() error {
			if p.clk.now.After(promoExpiry) {
				return nil // too late: the shopper finds it expired and gives up
			}
			_, err := p.redeem(c)
			return err
		})
	}
	return nil
}

// readLive reads, at midYear, every card and account the script knows
// through the services, as the shop's screens would show them then.
func (p *programme) readLive() error {
	now := p.clk.now
	p.live = Live{At: now, Cards: map[giftkit.Currency]map[giftkit.ValueClass]int64{}, Accounts: map[giftkit.Currency]int64{}}
	for _, c := range p.issued {
		got, err := p.cards.Card(p.ctx, c.id)
		if err != nil {
			return err
		}
		sold := !got.ActivatedAt.IsZero()
		usable := got.State == giftcard.StateActive || got.State == giftcard.StateBlocked
		if !sold || !usable || got.Expired(now) {
			continue
		}
		cur := got.Value.Currency()
		if p.live.Cards[cur] == nil {
			p.live.Cards[cur] = map[giftkit.ValueClass]int64{}
		}
		p.live.Cards[cur][got.Class] += got.Value.Minor()
	}
	for _, a := range p.accounts {
		b, err := p.wallet.Balance(p.ctx, a.owner, a.cur)
		if err != nil {
			return err
		}
		p.live.Accounts[a.cur] += b.Balance.Minor()
	}
	return nil
}

// sceneRefund: ana is given a 50.00 EUR card in August and pays an order
// of 80.00 with it (30.00 by bank card); she returns an item of 40.00 and
// support refunds it: 30.00 to the bank card first, 10.00 back to her
// balance, as refund credit.
func (p *programme) sceneRefund() {
	var c *card
	var order string
	p.agenda.add(at(time.August, 3, 11, 20), func() (err error) {
		c, err = p.issue(p.asShop(), giftcard.IssueRequest{Value: eur("50.00"), ExpiresAt: at(time.August, 3, 11, 20).AddDate(1, 0, 0)}, "ana")
		p.stats.sold[giftkit.EUR]++
		return err
	})
	p.agenda.add(at(time.August, 4, 19, 5), func() error { _, err := p.redeem(c); return err })
	p.agenda.add(at(time.August, 10, 20, 40), func() error {
		pay, err := p.pay("ana", eur("80.00"))
		order = pay.ID
		return err
	})
	p.agenda.add(at(time.September, 2, 10, 15), func() error {
		pay, err := p.shop.Refund(p.asStaff("lea", "item returned, ticket 5120"), order, eur("40.00"), p.key("refund"))
		if err == nil {
			p.refund = pay.Refunds[0]
		}
		return err
	})
}

// sceneGoodwill: ben redeems a card in April, spends part of it, and does
// nothing more; in October support credits him 5.00 EUR for a late
// delivery. An operator's credit is not the holder's activity: his account
// stays dormant.
func (p *programme) sceneGoodwill() {
	var c *card
	p.agenda.add(at(time.April, 7, 15, 0), func() (err error) {
		c, err = p.issue(p.asShop(), giftcard.IssueRequest{Value: eur("25.00"), ExpiresAt: at(time.April, 7, 15, 0).AddDate(1, 0, 0)}, "ben")
		p.stats.sold[giftkit.EUR]++
		return err
	})
	p.agenda.add(at(time.April, 9, 18, 30), func() error { _, err := p.redeem(c); return err })
	p.agenda.add(at(time.April, 20, 12, 10), func() error { _, err := p.pay("ben", eur("15.00")); return err })
	p.agenda.add(at(time.October, 12, 9, 45), func() (err error) {
		p.adjusted, err = p.wallet.Adjust(p.asStaff("lea", "goodwill: late delivery, ticket 4711"), "ben", eur("5.00"), "ticket-4711", p.key("adjust"))
		return err
	})
}

// sceneClawback: zoe is sold a 100.00 EUR card in May, redeems it at once
// and spends 70.00 of it; in June the purchase of the card is charged back,
// and finance claws back all of it: 30.00 is recovered from her balance,
// and 70.00, already spent, is a shortfall.
func (p *programme) sceneClawback() {
	p.agenda.add(at(time.May, 12, 10, 0), func() (err error) {
		p.clawCard, err = p.issue(p.asShop(), giftcard.IssueRequest{Value: eur("100.00"), ExpiresAt: at(time.May, 12, 10, 0).AddDate(1, 0, 0)}, "zoe")
		p.stats.sold[giftkit.EUR]++
		return err
	})
	p.agenda.add(at(time.May, 12, 10, 30), func() error { _, err := p.redeem(p.clawCard); return err })
	p.agenda.add(at(time.May, 20, 16, 0), func() error {
		p.clawSpent = eur("70.00")
		_, err := p.pay("zoe", p.clawSpent)
		return err
	})
	p.agenda.add(at(time.June, 15, 11, 0), func() (err error) {
		ctx := p.asStaff("sam", "chargeback CB-2211 on the card's purchase")
		p.clawback, err = p.wallet.Clawback(ctx, p.clawCard.id, giftkit.Money{}, p.key("clawback"))
		p.touch("zoe", giftkit.EUR)
		return err
	})
}

// sceneVoid: the shop sells a card twice for one order in October; support
// voids the second before it is used.
func (p *programme) sceneVoid() {
	p.agenda.add(at(time.October, 4, 14, 2), func() (err error) {
		p.voided, err = p.issue(p.asShop(), giftcard.IssueRequest{Value: eur("50.00"), ExpiresAt: at(time.October, 4, 14, 2).AddDate(1, 0, 0)}, "chloe")
		p.stats.sold[giftkit.EUR]++
		return err
	})
	p.agenda.add(at(time.October, 5, 9, 30), func() error {
		_, err := p.cards.Void(p.asStaff("lea", "sold twice for order W-8812, second card refunded"), p.voided.id, p.key("void"))
		return err
	})
}

// report prints the year's summary and the ledger's reports.
func (p *programme) report(w io.Writer) error {
	ctx := p.ctx
	s := p.stats
	fmt.Fprintln(w, "A year of a gift-card programme, 2026, as the operator's ledger reports it")
	fmt.Fprintln(w, "\n== The year")
	fmt.Fprintf(w, "   Sold: %d cards in EUR (%d of them printed cards activated at the till, of %d printed), %d in GBP\n",
		s.sold[giftkit.EUR], s.physical, s.printed, s.sold[giftkit.GBP])
	fmt.Fprintf(w, "   Spring campaign: %d promotional cards of %s, lapsing %s\n", s.promos, p.promoIssued, promoExpiry.Format(time.DateOnly))
	fmt.Fprintf(w, "   Redeemed: %d cards; paid: %d orders through checkout (%s from balances, %s by bank card), %d at the till (%s)\n",
		s.redeemed, s.checkouts, giftkit.FromMinor(s.fromBalance[giftkit.EUR], giftkit.EUR), s.byCard,
		s.tills, giftkit.FromMinor(s.fromBalance[giftkit.GBP], giftkit.GBP))
	fmt.Fprintf(w, "   Refund (operator:lea): %s of ana's order, %s to her bank card, %s to her balance\n",
		p.refund.Amount, p.refund.Card, p.refund.Balance)
	fmt.Fprintf(w, "   Goodwill (operator:lea): %s to ben's balance, now %s\n", eur("5.00"), p.adjusted.Balance)
	fmt.Fprintf(w, "   Voided (operator:lea): card %s of %s, sold twice\n", p.voided.code.Masked(), p.voided.value)

	liability := func(title string, at time.Time) (ledger.Liability, error) {
		l, err := p.ledger.Liability(ctx, at)
		if err != nil {
			return l, err
		}
		fmt.Fprintf(w, "\n== Liability at %s (%s), per currency and value class\n", at.Format(time.RFC3339), title)
		lines := l
		lines.Cohorts = nil // the statement's lines; the same figures by month follow them when written whole
		return l, lines.Write(w, ledger.CSV)
	}
	if _, err := liability("year end", yearEnd); err != nil {
		return err
	}
	mid, err := liability("mid-year, read from the log at year end", midYear)
	if err != nil {
		return err
	}
	for _, cur := range []giftkit.Currency{giftkit.EUR, giftkit.GBP} {
		total, err := mid.Total(cur)
		if err != nil {
			return err
		}
		live := p.live.Total(cur)
		verdict := "equal"
		if total != live {
			verdict = "NOT EQUAL"
		}
		fmt.Fprintf(w, "   %s: the ledger says %s; the balances and cards read live then said %s: %s\n", cur.Code(), total, live, verdict)
	}

	cohorts, err := p.ledger.Cohorts(ctx, yearEnd)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\n== Redemption curves at year end: per cohort (issue month), percent of the value sold")
	fmt.Fprintln(w, "   redeemed by the end of month N after the issue month (m0 is the issue month itself)")
	if err := writeCurves(w, cohorts); err != nil {
		return err
	}

	fmt.Fprintf(w, "\n== Dormant at year end: value, and no holder activity since %s\n", dormantSince.Format(time.DateOnly))
	if err := p.ledger.WriteDormancy(ctx, w, dormantSince, yearEnd, ledger.CSV); err != nil {
		return err
	}
	err = p.ledger.Dormancy(ctx, dormantSince, yearEnd, func(d ledger.Dormant) error {
		if d.Subject == activity.Account("ben", giftkit.EUR) {
			fmt.Fprintln(w, "   (ben's goodwill credit in October was staff's change, not his: his account is still dormant)")
		}
		return nil
	})
	if err != nil {
		return err
	}

	cb := p.clawback
	fmt.Fprintln(w, "\n== Clawback (operator:sam, \"chargeback CB-2211 on the card's purchase\")")
	fmt.Fprintf(w, "   Card %s of %s, redeemed by %s, who spent %s of it before the chargeback\n",
		p.clawCard.code.Masked(), p.clawCard.value, cb.Owner, p.clawSpent)
	fmt.Fprintf(w, "   Asked %s: recovered %s from %s's balance; shortfall %s, to recover another way or write off\n",
		cb.Asked, cb.Recovered, cb.Owner, cb.Shortfall)
	fmt.Fprintf(w, "   The log of the card and of %s's account, in order of time:\n", cb.Owner)
	var recs []activity.Record
	for _, subject := range []activity.Subject{activity.Card(p.clawCard.id), activity.Account(cb.Owner, giftkit.EUR)} {
		for r, err := range p.ledger.Records(ctx, activity.Query{Subject: subject}) {
			if err != nil {
				return err
			}
			recs = append(recs, r)
		}
	}
	slices.SortStableFunc(recs, func(a, b activity.Record) int { return a.At.Compare(b.At) })
	for _, r := range recs {
		reason := ""
		if r.Reason != "" {
			reason = strconv.Quote(r.Reason)
		}
		line := fmt.Sprintf("   %s  %-7s %-8s  %-12s %11s  %s", r.At.Format("2006-01-02 15:04"), r.Subject.Kind, r.Kind, r.Actor,
			signed(r.Amount), reason)
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}

	for r, err := range p.ledger.Records(ctx, activity.Query{}) {
		if err != nil {
			return err
		}
		p.records++
		if r.Seq == 1 {
			p.chains[r.Subject.Kind.String()]++
		}
	}
	if p.breaks, err = p.ledger.VerifyAll(ctx); err != nil {
		return err
	}
	fmt.Fprintln(w, "\n== Activity log")
	fmt.Fprintf(w, "   %d records in the chains of %d cards and %d accounts\n", p.records, p.chains["card"], p.chains["account"])
	if len(p.breaks) == 0 {
		fmt.Fprintln(w, "   VerifyAll: every chain holds, no break found")
	}
	for _, b := range p.breaks {
		fmt.Fprintf(w, "   VerifyAll: BREAK %v\n", b)
	}
	return nil
}

// signed writes an amount with its sign, such as +100.00 or -30.00.
func signed(m giftkit.Money) string {
	if m.IsPositive() {
		return "+" + m.Amount()
	}
	return m.Amount()
}

// months is how many points of a curve writeCurves shows: a year's.
const months = 12

// writeCurves writes the cohorts as CSV, one row per cohort with its
// redemption curve across (ledger.WriteCohorts writes one row per point,
// for tools): the share of the value sold redeemed by the end of each
// month after the issue month, as a whole percentage, rounded half up.
func writeCurves(w io.Writer, cohorts []ledger.Cohort) error {
	cw := csv.NewWriter(w)
	header := []string{"currency", "class", "month", "cards", "sold", "redeemed", "removed", "expired", "outstanding"}
	for m := range months {
		header = append(header, "m"+strconv.Itoa(m))
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	slices.SortStableFunc(cohorts, func(a, b ledger.Cohort) int { // by currency, then class, then month
		return cmp.Or(cmp.Compare(a.Currency.Code(), b.Currency.Code()), cmp.Compare(a.Class, b.Class), cmp.Compare(a.Month, b.Month))
	})
	for _, c := range cohorts {
		row := []string{c.Currency.Code(), c.Class.String(), c.Month, strconv.Itoa(c.Cards), c.Sold.Amount(), c.Redeemed.Amount(),
			c.Removed.Amount(), c.Expired.Amount(), c.Outstanding.Amount()}
		for m := range months {
			cell := ""
			if m < len(c.Curve) && c.Sold.IsPositive() {
				cell = strconv.FormatInt((c.Curve[m].Redeemed.Minor()*200+c.Sold.Minor())/(2*c.Sold.Minor()), 10)
			}
			row = append(row, cell)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
