package activity_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
)

// Records of one card form a chain: changing one breaks it where it
// happened.
func ExampleVerify() {
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	card := activity.Card("card_0123")
	var head activity.Head
	var records []activity.Record
	for _, r := range []activity.Record{
		{Subject: card, Kind: activity.KindIssue, Amount: giftkit.MustParseMoney("25.00", giftkit.EUR)},
		{Subject: card, Kind: activity.KindBlock},
		{Subject: card, Kind: activity.KindUnblock},
	} {
		r, head = activity.Cause{Actor: giftkit.Operator("ana"), Reason: "review", At: at}.Seal(head, r)
		records = append(records, r)
	}
	fmt.Println(activity.Verify(card, records, head))

	records[0].Amount = giftkit.MustParseMoney("250.00", giftkit.EUR)
	err := activity.Verify(card, records, head)
	var broken *activity.BreakError
	fmt.Println(errors.As(err, &broken), broken.Seq, broken.Problem)
	// Output:
	// <nil>
	// true 1 its digest does not match its contents
}
