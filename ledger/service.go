// Package ledger is the operator's side of a gift-card programme: the
// activity log (who changed what, when and why) read by card, account,
// actor and time, its tamper evidence verified, and the reports an
// accountant and a support desk need, as pure functions over the log:
//
//   - [Liability]: what the business owes at any instant, past or present,
//     per currency and value class, with a cohort view by month;
//   - [Cohorts]: per issue month, the value sold, redeemed (a redemption
//     curve by months since issue), voided, expired and still
//     outstanding: the inputs of breakage under ASC 606 / IFRS 15;
//   - [Dormancy]: cards and accounts with value and no holder activity
//     since a date, for unclaimed-property reporting.
//
// Every report reads the log one subject at a time in order (see
// activity.BySubject), so its memory does not grow with the number of
// cards, and reconstructs each card and account from the snapshot its
// records carry, with the very rules the services apply (an account's
// expired credit and lapsed holds, say, are swept as wallet sweeps them).
// The figure a report gives for a past instant is therefore the figure the
// live balances gave then. Reports write themselves as CSV or JSON
// ([Liability.Write], [WriteCohorts], [Service.WriteDormancy],
// [Service.WriteActivity]).
package ledger

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/internal/unit"
	"github.com/giftkit/giftkit/wallet"
)

// A Service reads the activity log and the reports of one store. It is
// safe for concurrent use.
type Service struct {
	store giftkit.Store[wallet.Tx]
}

// NewService returns a Service over store.
func NewService[T wallet.Tx](store giftkit.Store[T]) (*Service, error) {
	if store == nil {
		return nil, errors.New("ledger: NewService needs a store")
	}
	return &Service{store: unit.Erase(store, func(tx T) wallet.Tx { return tx })}, nil
}

// DefaultPageSize and MaxPageSize bound [Service.Activity] pages;
// pageSize is what reports read at a time.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
	pageSize        = 1000
)

// A Page is one page of activity records.
type Page struct {
	Records []activity.Record `json:"records"` // up to the limit asked for, in the query's order
	// Next is the query's cursor for the following page (pass it as
	// Query.After); meaningful when More.
	Next activity.Cursor `json:"-"`
	More bool            `json:"more"` // more records may follow
}

// Activity returns up to limit records that q selects (0 means
// DefaultPageSize; more than MaxPageSize is capped), after q.After, in
// q.Order.
func (s *Service) Activity(ctx context.Context, q activity.Query, limit int) (Page, error) {
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	if err := checkQuery(q); err != nil {
		return Page{}, err
	}
	var recs []activity.Record
	err := s.store.Update(ctx, func(tx wallet.Tx) (err error) {
		recs, err = tx.Activity(q, limit+1)
		return err
	})
	if err != nil {
		return Page{}, err
	}
	page := Page{Records: recs}
	if len(recs) > limit {
		page.Records, page.More = recs[:limit], true
		page.Next = activity.CursorOf(recs[limit-1], q.Order)
	}
	return page, nil
}

// ErrNotFound: Verify was asked about a card or account that has neither
// a row nor records. It wraps giftkit.ErrNotFound.
var ErrNotFound = errors.Join(errors.New("ledger: no such card or account"), giftkit.ErrNotFound)

// ErrInvalidQuery: a query names an unknown order or subject kind, or an
// actor that is not valid. It wraps giftkit.ErrInvalid.
var ErrInvalidQuery = errors.Join(errors.New("ledger: invalid query"), giftkit.ErrInvalid)

func checkQuery(q activity.Query) error {
	if q.Order > activity.ByTime || q.Kind > activity.SubjectAccount || q.Subject.Kind > activity.SubjectAccount || !q.Actor.Valid() {
		return ErrInvalidQuery
	}
	return nil
}

// Records returns every record q selects, after q.After, in q.Order, read
// a page at a time, each page in its own unit of work: a record appended
// while it runs is read if it falls after the page being read. It stops at
// the first error, which it yields.
func (s *Service) Records(ctx context.Context, q activity.Query) iter.Seq2[activity.Record, error] {
	return func(yield func(activity.Record, error) bool) {
		if err := checkQuery(q); err != nil {
			yield(activity.Record{}, err)
			return
		}
		for {
			var page []activity.Record
			err := s.store.Update(ctx, func(tx wallet.Tx) (err error) {
				page, err = tx.Activity(q, pageSize)
				return err
			})
			if err != nil {
				yield(activity.Record{}, err)
				return
			}
			for _, r := range page {
				if !yield(r, nil) {
					return
				}
			}
			if len(page) < pageSize {
				return
			}
			q.After = activity.CursorOf(page[len(page)-1], q.Order)
		}
	}
}

// Verify checks subject's chain of records from the first: each record
// links to the one before and its digest matches its contents, and the
// chain ends at the head the card or account keeps. It returns nil, an
// *activity.BreakError at the first break (records of a card or account
// that is not stored are a break too: their head is missing),
// [ErrNotFound] for a card or account with neither records nor a row, or
// the store's error.
func (s *Service) Verify(ctx context.Context, subject activity.Subject) error {
	v := activity.NewVerifier(subject)
	for r, err := range s.Records(ctx, activity.Query{Subject: subject}) {
		if err != nil {
			return err
		}
		if err := v.Add(r); err != nil {
			return err
		}
	}
	var head activity.Head
	err := s.store.Update(ctx, func(tx wallet.Tx) error {
		var found bool
		var err error
		switch subject.Kind {
		case activity.SubjectCard:
			var card giftcard.Card
			card, found, err = tx.CardByID(subject.ID)
			head = card.Head
		case activity.SubjectAccount:
			var acct wallet.Account
			acct, found, err = tx.Account(subject.ID, subject.Currency)
			head = acct.Head()
		default:
			return ErrInvalidQuery
		}
		if err == nil && !found && v.Head().Seq == 0 {
			err = fmt.Errorf("ledger: %s: %w", subject, ErrNotFound)
		}
		return err
	})
	if err != nil {
		return err
	}
	return v.End(head)
}

// VerifyAll checks every chain in the log (see [Service.Verify]) in one
// pass, and returns the breaks it found, one per broken chain, in subject
// order. It walks the cards and accounts the log holds records of: one
// whose every record is gone is found by Verify, which compares the head
// the card or account keeps with its (missing) records.
func (s *Service) VerifyAll(ctx context.Context) ([]*activity.BreakError, error) {
	var breaks []*activity.BreakError
	type ended struct {
		subject activity.Subject
		v       *activity.Verifier
	}
	var batch []ended
	flush := func() error { // compare a batch of chains' ends with their subjects' heads
		err := s.store.Update(ctx, func(tx wallet.Tx) error {
			for _, e := range batch {
				var head activity.Head
				switch e.subject.Kind {
				case activity.SubjectCard:
					card, _, err := tx.CardByID(e.subject.ID)
					if err != nil {
						return err
					}
					head = card.Head
				default:
					acct, _, err := tx.Account(e.subject.ID, e.subject.Currency)
					if err != nil {
						return err
					}
					head = acct.Head()
				}
				var be *activity.BreakError
				if errors.As(e.v.End(head), &be) {
					breaks = append(breaks, be)
				}
			}
			return nil
		})
		batch = batch[:0]
		return err
	}
	for g, err := range groups(s.Records(ctx, activity.Query{})) {
		if err != nil {
			return breaks, err
		}
		v := activity.NewVerifier(g[0].Subject)
		var be *activity.BreakError
		for _, r := range g {
			if err := v.Add(r); errors.As(err, &be) {
				break
			}
		}
		if be != nil {
			breaks = append(breaks, be)
			continue
		}
		if batch = append(batch, ended{g[0].Subject, v}); len(batch) == pageSize {
			if err := flush(); err != nil {
				return breaks, err
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return breaks, err
		}
	}
	// A chain's own break is found as it is read, a wrong head when its
	// batch is flushed: put them back in subject order.
	slices.SortFunc(breaks, func(a, b *activity.BreakError) int { return a.Subject.Compare(b.Subject) })
	return breaks, nil
}

// groups yields the records of each subject together, from records in
// activity.BySubject order. The slice it yields is reused for the next
// subject.
func groups(records iter.Seq2[activity.Record, error]) iter.Seq2[[]activity.Record, error] {
	return func(yield func([]activity.Record, error) bool) {
		var group []activity.Record
		for r, err := range records {
			if err != nil {
				yield(nil, err)
				return
			}
			if len(group) > 0 && group[0].Subject != r.Subject {
				if !yield(group, nil) {
					return
				}
				group = group[:0]
			}
			group = append(group, r)
		}
		if len(group) > 0 {
			yield(group, nil)
		}
	}
}
