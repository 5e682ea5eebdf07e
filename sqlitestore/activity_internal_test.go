package sqlitestore

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
)

// The queries of the activity log read an index in their order: none has
// SQLite sort the records it selects (USE TEMP B-TREE), but one actor's
// records by subject, which sorts that actor's alone.
func TestActivityQueryPlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "giftkit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	card := activity.CursorOf(activity.Record{Subject: activity.Card("c"), Seq: 3, At: at}, activity.ByTime)
	for name, tc := range map[string]struct {
		q    activity.Query
		uses string // the index the plan reads
	}{
		"all":                     {activity.Query{}, "giftkit_activity"},
		"all after":               {activity.Query{After: card}, "PRIMARY KEY"},
		"by time":                 {activity.Query{Order: activity.ByTime, After: card}, "giftkit_activity_by_time"},
		"a subject":               {activity.Query{Subject: activity.Account("alice", giftkit.EUR), After: card}, "PRIMARY KEY"},
		"a kind":                  {activity.Query{Kind: activity.SubjectAccount, After: card}, "PRIMARY KEY"},
		"a kind by time":          {activity.Query{Kind: activity.SubjectAccount, Order: activity.ByTime, After: card}, "giftkit_activity_by_time"},
		"an actor by time":        {activity.Query{Actor: giftkit.Operator("ana"), Order: activity.ByTime, After: card}, "giftkit_activity_by_actor"},
		"a time range by time":    {activity.Query{From: at, To: at.Add(time.Hour), Order: activity.ByTime, After: card}, "giftkit_activity_by_time"},
		"a kind in a time range":  {activity.Query{Kind: activity.SubjectCard, From: at, Order: activity.ByTime}, "giftkit_activity_by_time"},
		"until an instant":        {activity.Query{To: at, After: card}, "PRIMARY KEY"},
		"a kind until an instant": {activity.Query{Kind: activity.SubjectCard, To: at, After: card}, "PRIMARY KEY"},
		"a time range":            {activity.Query{From: at, To: at.Add(time.Hour), After: card}, "PRIMARY KEY"},
	} {
		query, args, none := activityQuery(tc.q)
		if none {
			t.Fatalf("%s: no query", name)
		}
		var plan []string
		if err := s.View(ctx, func(tx *Tx) error {
			rows, err := tx.c.query(ctx, "EXPLAIN QUERY PLAN "+query, append(args, 10)...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					return err
				}
				plan = append(plan, detail)
			}
			return rows.Err()
		}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		text := strings.Join(plan, "; ")
		if strings.Contains(text, "TEMP B-TREE") || !strings.Contains(text, tc.uses) {
			t.Errorf("%s: %s\n  plan: %s; want it to read %s in order", name, query, text, tc.uses)
		}
	}
}

// Bounds of time beyond what the table holds select every record or none.
func TestActivityQueryTimeBounds(t *testing.T) {
	far := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	early := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		q    activity.Query
		none bool
	}{
		"from before 1678":     {activity.Query{From: early}, false},
		"from after 2262":      {activity.Query{From: far}, true},
		"to after 2262":        {activity.Query{To: far}, false},
		"to before 1678":       {activity.Query{To: early}, true},
		"after a far cursor":   {activity.Query{Order: activity.ByTime, After: activity.Cursor{At: far, Seq: 1}}, true},
		"after an old cursor":  {activity.Query{Order: activity.ByTime, After: activity.Cursor{At: early, Seq: 1}}, false},
		"after a cursor by ID": {activity.Query{After: activity.Cursor{At: far, Seq: 1}}, false},
	} {
		query, _, none := activityQuery(tc.q)
		if none != tc.none {
			t.Errorf("%s: none = %v; want %v", name, none, tc.none)
		}
		if !none && strings.Contains(query, "at_ns") && !strings.Contains(query, "ORDER BY at_ns") {
			t.Errorf("%s: %s; want no condition on the time", name, query)
		}
	}
}
