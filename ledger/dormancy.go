package ledger

import (
	"context"
	"iter"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
)

// A Dormant is a card or an account that holds value and has seen no
// holder activity since a date: what unclaimed-property (escheat) reports
// list.
//
// Holder activity is a change made by the holder's side: a record whose
// actor is a shopper, an API client (a storefront or point of sale acting
// for the holder: selling a card counts) or unattributed (the host did not
// say which, and the library does not guess: attribute your calls, or an
// unattributed change by staff will look like the holder's). An
// operator's adjustment or the system's sweep is not holder activity.
type Dormant struct {
	Subject activity.Subject `json:"subject"`
	Value   giftkit.Money    `json:"value"` // the card's value or the account's balance at the report's instant
	// LastActivity is the time of the last holder activity; zero if there
	// was none.
	LastActivity time.Time `json:"last_activity"`
}

func holderActivity(r activity.Record) bool {
	k := r.Actor.Kind
	return k == 0 || k == giftkit.ActorShopper || k == giftkit.ActorClient
}

// Dormancy calls emit for every card and account with value at at and no
// holder activity since since (see [DormancyOf]), reading the store's log.
func (s *Service) Dormancy(ctx context.Context, since, at time.Time, emit func(Dormant) error) error {
	return DormancyOf(s.Records(ctx, activity.Query{To: at.Add(time.Nanosecond)}), since, at, emit)
}

// DormancyOf calls emit, in subject order, for every card and account of
// records (in activity.BySubject order) that holds value at at and whose
// last holder activity at or before at was before since. Cards count when
// their value is owed (sold, not redeemed, voided or expired); accounts
// when their balance, after expired credit is removed, is positive. It
// stops at emit's first error and returns it. It holds one subject's
// records at a time.
func DormancyOf(records iter.Seq2[activity.Record, error], since, at time.Time, emit func(Dormant) error) error {
	for chain, err := range groups(records) {
		if err != nil {
			return err
		}
		var last time.Time
		for _, r := range chain {
			if !r.At.After(at) && holderActivity(r) && r.At.After(last) {
				last = r.At
			}
		}
		if !last.Before(since) {
			continue
		}
		var value giftkit.Money
		switch chain[0].Subject.Kind {
		case activity.SubjectCard:
			c, ok, err := cardAt(chain, at)
			if err != nil {
				return err
			}
			if !ok || !owed(c, at) {
				continue
			}
			value = c.Value
		case activity.SubjectAccount:
			a, ok, err := accountAt(chain, at)
			if err != nil {
				return err
			}
			if !ok || !a.Balance().IsPositive() {
				continue
			}
			value = a.Balance()
		}
		if err := emit(Dormant{Subject: chain[0].Subject, Value: value, LastActivity: last}); err != nil {
			return err
		}
	}
	return nil
}
