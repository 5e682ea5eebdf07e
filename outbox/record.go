package outbox

import (
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/internal/jsonw"
)

// FromRecord returns the event of an activity record: the one a store puts
// in the outbox with the record. Its aggregate is the record's subject, its
// Seq the record's, its type the subject's kind and the record's kind
// ("card.redeemed", "account.captured"; see [TypeOf]).
//
// The payload (version 1) of a card event:
//
//	{"card_id": "card_…", "kind": "redeem",
//	 "amount": {"amount": "-25.00", "currency": "EUR"},  // the change to the card's value
//	 "before": {…}, "after": {…},                        // the value before and after
//	 "reference": "alice",                               // what the change is about (here, the account credited)
//	 "reason": "…",                                      // the operator's reason, if given
//	 "digest": "…"}                                      // the activity record's digest, which ties the event to the log
//
// and of an account event, the same with "owner" and "currency" for
// "card_id", and "held" (the change to the held part of the balance).
// Omitted: "reference" and "reason" when empty. Amounts are strings of
// decimal digits with their currency, never JSON numbers.
func FromRecord(r activity.Record) Event {
	var a Aggregate
	o := jsonw.Begin(make([]byte, 0, 384))
	switch r.Subject.Kind {
	case activity.SubjectAccount:
		a = Aggregate{Kind: AggregateAccount, ID: r.Subject.ID, Currency: r.Subject.Currency}
		o.String("owner", r.Subject.ID)
		o.String("currency", r.Subject.Currency.Code())
	default:
		a = Aggregate{Kind: AggregateCard, ID: r.Subject.ID}
		o.String("card_id", r.Subject.ID)
	}
	o.String("kind", r.Kind.String())
	o.Money("amount", r.Amount)
	if r.Subject.Kind == activity.SubjectAccount {
		o.Money("held", r.Held)
	}
	o.Money("before", r.Before)
	o.Money("after", r.After)
	o.OmitEmpty("reference", r.Reference)
	o.OmitEmpty("reason", r.Reason)
	o.Hex("digest", r.Digest[:])
	return New(a, r.Seq, TypeOf(r.Subject.Kind, r.Kind), r.Actor, r.At, o.End())
}

// FromRecords returns the events of records, in order.
func FromRecords(records []activity.Record) []Event {
	out := make([]Event, len(records))
	for i, r := range records {
		out[i] = FromRecord(r)
	}
	return out
}

var pastTense = [...]string{
	activity.KindIssue: "issued", activity.KindActivate: "activated", activity.KindBlock: "blocked",
	activity.KindUnblock: "unblocked", activity.KindVoid: "voided", activity.KindRedeem: "redeemed",
	activity.KindCredit: "credited", activity.KindHold: "held", activity.KindCapture: "captured",
	activity.KindRelease: "released", activity.KindRefund: "refunded", activity.KindExpiry: "expired",
	activity.KindAdjust: "adjusted", activity.KindLoad: "loaded", activity.KindClawback: "clawed_back",
	activity.KindTransfer: "transferred", activity.KindFee: "fee_charged",
}

// typeTable holds every TypeOf, so that no event builds its type's string.
var typeTable = func() (t [3][len(pastTense)]Type) {
	for _, s := range []activity.SubjectKind{activity.SubjectCard, activity.SubjectAccount} {
		for k, verb := range pastTense {
			if verb != "" {
				t[s][k] = Type(s.String() + "." + verb)
			}
		}
	}
	return t
}()

// TypeOf returns the type of the event of a record of kind k about a
// subject of kind s: "card." or "account.", then k in the past tense.
func TypeOf(s activity.SubjectKind, k activity.Kind) Type {
	if int(s) < len(typeTable) && int(k) < len(pastTense) && typeTable[s][k] != "" {
		return typeTable[s][k]
	}
	return Type(s.String() + "." + k.String())
}
