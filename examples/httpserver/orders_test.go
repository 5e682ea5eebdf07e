package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// order is what a test reads of a payment response.
type order struct {
	ID      string
	State   string
	Total   struct{ Amount string }
	Balance struct{ Captured, Refunded struct{ Amount string } }
	Card    struct{ Captured, Refunded struct{ Amount string } }
}

// orderPath is the URL path of owner's order.
func orderPath(owner, id string) string {
	return "/accounts/" + url.PathEscape(owner) + "/orders/" + url.PathEscape(id)
}

// TestOrdersPerShopper: alice and bob both pay an order-1, under the same
// idempotency key; each pays, sees and is refunded their own, and neither can
// reach the other's.
func TestOrdersPerShopper(t *testing.T) {
	api := newTestServer(t)
	code := issue(t, api, "10.00", "issue-1")
	if status, err := api.call("POST", "/accounts/alice/redeem", aliceToken, "r1", map[string]string{"code": code}, nil); err != nil || status != http.StatusOK {
		t.Fatalf("redeem: %d %v", status, err)
	}
	pay := func(token, owner, id, total, key string, body map[string]any) (int, order) {
		t.Helper()
		if body == nil {
			body = map[string]any{"total": eur(total), "instrument": "tok_visa"}
		}
		var got order
		status, err := api.call("POST", orderPath(owner, id)+"/pay", token, key, body, &got)
		if err != nil {
			t.Fatalf("pay %s as %s: %v", orderPath(owner, id), owner, err)
		}
		return status, got
	}
	get := func(token, owner, id string) (int, order) {
		t.Helper()
		var got order
		status, err := api.call("GET", orderPath(owner, id), token, "", nil, &got)
		if err != nil {
			t.Fatalf("GET %s: %v", orderPath(owner, id), err)
		}
		return status, got
	}

	// alice pays 25.00, 10.00 of it from her balance; then bob pays his own
	// order-1 of 7.00 by card, under the same key.
	status, alices := pay(aliceToken, "alice", "order-1", "25.00", "pay-1", nil)
	if status != http.StatusOK || alices.ID != "order-1" || alices.State != "captured" || alices.Balance.Captured.Amount != "10.00" {
		t.Fatalf("alice pays order-1: %d %+v; want 200, captured, 10.00 from the balance", status, alices)
	}
	status, bobs := pay(bobToken, "bob", "order-1", "7.00", "pay-1", nil)
	if status != http.StatusOK || bobs.ID != "order-1" || bobs.State != "captured" || bobs.Total.Amount != "7.00" || bobs.Card.Captured.Amount != "7.00" {
		t.Fatalf("bob pays his order-1 after alice: %d %+v; want 200, captured, 7.00 by card", status, bobs)
	}
	// Each replay returns the shopper's own payment.
	if status, again := pay(bobToken, "bob", "order-1", "7.00", "pay-1", nil); status != http.StatusOK || again != bobs {
		t.Errorf("bob's replay: %d %+v; want %+v", status, again, bobs)
	}

	for _, tc := range []struct {
		name, token, owner string
		wantStatus         int
		wantTotal          string
	}{
		{"alice reads hers", aliceToken, "alice", http.StatusOK, "25.00"},
		{"bob reads his", bobToken, "bob", http.StatusOK, "7.00"},
		{"support reads alice's", adminToken, "alice", http.StatusOK, "25.00"},
		{"support reads bob's", adminToken, "bob", http.StatusOK, "7.00"},
		{"bob reads alice's", bobToken, "alice", http.StatusForbidden, ""},
		{"alice reads bob's", aliceToken, "bob", http.StatusForbidden, ""},
	} {
		status, got := get(tc.token, tc.owner, "order-1")
		if status != tc.wantStatus || got.Total.Amount != tc.wantTotal || (status == http.StatusOK && got.ID != "order-1") {
			t.Errorf("%s: GET %s = %d %+v; want %d with total %q", tc.name, orderPath(tc.owner, "order-1"), status, got, tc.wantStatus, tc.wantTotal)
		}
	}

	// The admin names the shopper: refunding bob's order-1 leaves alice's be.
	var refunded order
	status, _ = api.call("POST", orderPath("bob", "order-1")+"/refund", adminToken, "f1", map[string]any{"amount": eur("3.00")}, &refunded)
	if status != http.StatusOK || refunded.ID != "order-1" || refunded.Card.Refunded.Amount != "3.00" {
		t.Errorf("refund of bob's order-1: %d %+v; want 3.00 back to the card", status, refunded)
	}
	if _, got := get(aliceToken, "alice", "order-1"); got.Card.Refunded.Amount != "0.00" || got.Balance.Refunded.Amount != "0.00" {
		t.Errorf("alice's order-1 after bob's refund: %+v; want nothing refunded", got)
	}

	// An order that only alice has is unknown to bob, exactly like one that
	// nobody has; bob may take the ID for himself.
	if status, _ := pay(aliceToken, "alice", "alice-only", "5.00", "pay-2", map[string]any{"total": eur("5.00"), "instrument": "tok_visa", "capture": "later"}); status != http.StatusOK {
		t.Fatalf("alice pays alice-only: %d", status)
	}
	var onlyAlices, nobodys problem
	statusA, _ := api.call("GET", orderPath("bob", "alice-only"), bobToken, "", nil, &onlyAlices)
	statusN, _ := api.call("GET", orderPath("bob", "nobody-s"), bobToken, "", nil, &nobodys)
	onlyAlices.Detail = strings.ReplaceAll(onlyAlices.Detail, "alice-only", "ID")
	nobodys.Detail = strings.ReplaceAll(nobodys.Detail, "nobody-s", "ID")
	if statusA != http.StatusNotFound || statusN != http.StatusNotFound {
		t.Errorf("bob reads his alice-only, nobody-s: %d, %d; want 404, 404", statusA, statusN)
	}
	if diff := cmp.Diff(nobodys, onlyAlices); diff != "" {
		t.Errorf("bob's view of an order only alice has differs from one nobody has (-nobody's +alice's):\n%s", diff)
	}
	// Not even with the prefix of alice's payment IDs in front.
	if status, _ := get(bobToken, "bob", ownerTag("alice")+"alice-only"); status != http.StatusNotFound {
		t.Errorf("bob reads alice's payment ID as his order: %d; want 404", status)
	}

	// Capture and refund reach only the named shopper's order.
	for _, tc := range []struct {
		name, token, path string
		want              int
	}{
		{"capture as bob", bobToken, orderPath("alice", "alice-only") + "/capture", http.StatusForbidden},
		{"refund as bob", bobToken, orderPath("alice", "order-1") + "/refund", http.StatusForbidden},
		{"capture of the wrong shopper's order", adminToken, orderPath("bob", "alice-only") + "/capture", http.StatusNotFound},
		{"refund of the wrong shopper's order", adminToken, orderPath("bob", "alice-only") + "/refund", http.StatusNotFound},
		{"capture of alice's", adminToken, orderPath("alice", "alice-only") + "/capture", http.StatusOK},
	} {
		var got order
		status, err := api.call("POST", tc.path, tc.token, "k-"+tc.name, map[string]any{"amount": eur("5.00")}, &got)
		if err != nil || status != tc.want {
			t.Errorf("%s: POST %s = %d %v; want %d", tc.name, tc.path, status, err, tc.want)
		}
		if status == http.StatusOK && (got.ID != "alice-only" || got.State != "captured") {
			t.Errorf("%s: %+v; want alice-only captured", tc.name, got)
		}
	}

	// alice's history names her order by its ID, as she chose it.
	var history struct {
		Entries []struct{ Kind, Reference string }
	}
	if status, err := api.call("GET", "/accounts/alice/history", aliceToken, "", nil, &history); err != nil || status != http.StatusOK {
		t.Fatalf("history: %d %v", status, err)
	}
	var refs []string
	for _, e := range history.Entries {
		if e.Kind != "credit" {
			refs = append(refs, e.Kind+" "+e.Reference)
		}
	}
	if diff := cmp.Diff([]string{"hold order-1", "capture order-1"}, refs); diff != "" {
		t.Errorf("alice's payment entries mismatch (-want +got):\n%s", diff)
	}
}

// TestSameOrderIDConcurrently: 32 shoppers pay their order-1 at once, under
// the same key; every one is paid.
func TestSameOrderIDConcurrently(t *testing.T) {
	api := newTestServer(t)
	got := make([]string, 32)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var o order
			token := fmt.Sprintf("shopper-token-%04d", i)
			total := fmt.Sprintf("%d.00", i+1)
			status, err := api.call("POST", orderPath(fmt.Sprint("s", i), "order-1")+"/pay", token, "pay-1",
				map[string]any{"total": eur(total), "instrument": "tok_visa"}, &o)
			got[i] = fmt.Sprintf("%d %v %s %s %s", status, err, o.ID, o.State, o.Total.Amount)
		}()
	}
	wg.Wait()
	want := make([]string, len(got))
	for i := range want {
		want[i] = fmt.Sprintf("200 <nil> order-1 captured %d.00", i+1)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("concurrent payments of order-1 mismatch (-want +got):\n%s", diff)
	}
}

// TestOrderIDs: the order ID in the path is checked before anything is paid.
func TestOrderIDs(t *testing.T) {
	api := newTestServer(t)
	longest := strings.Repeat("x", maxOrderIDLen)
	for _, tc := range []struct {
		name, id string
		want     int
	}{
		{"longest", longest, http.StatusOK},
		{"too long", longest + "x", http.StatusBadRequest},
		{"with a slash", "a/b", http.StatusOK},
		{"with spaces and unicode", "commande n° 7", http.StatusOK},
		{"NUL", "a\x00b", http.StatusBadRequest},
		{"newline", "a\nb", http.StatusBadRequest},
		{"not UTF-8", "a\xffb", http.StatusBadRequest},
	} {
		var p problem
		status, err := api.call("POST", orderPath("alice", tc.id)+"/pay", aliceToken, "k-"+tc.name,
			map[string]any{"total": eur("1.00"), "instrument": "tok_visa"}, &p)
		if err != nil || status != tc.want {
			t.Errorf("%s: pay %q = %d %v %+v; want %d", tc.name, tc.id, status, err, p, tc.want)
		}
		if status == http.StatusBadRequest && !strings.Contains(p.Detail, "order ID") {
			t.Errorf("%s: detail %q does not name the order ID", tc.name, p.Detail)
		}
	}
	if maxOrderIDLen != 85 {
		t.Errorf("maxOrderIDLen = %d; the package doc says 85", maxOrderIDLen)
	}
}

func TestPaymentIDEncoding(t *testing.T) {
	// Pairs that a separator would join into one string: each must have a
	// payment ID of its own.
	pairs := [][2]string{
		{"alice", "order-1"}, {"bob", "order-1"}, {"alice", "order-2"},
		{"a", "b/c"}, {"a/b", "c"}, {"a:", "b"}, {"a", ":b"}, {"ab", "c"}, {"a", "bc"},
		{"alice", ownerTag("bob") + "order-1"}, {"", "x"}, {strings.Repeat("o", 128), "x"},
	}
	seen := map[string][2]string{}
	for _, pair := range pairs {
		id := paymentID(pair[0], pair[1])
		if other, dup := seen[id]; dup {
			t.Errorf("paymentID(%q, %q) = paymentID(%q, %q) = %q", pair[0], pair[1], other[0], other[1], id)
		}
		seen[id] = pair
		if got, ok := orderOf(pair[0], id); !ok || got != pair[1] {
			t.Errorf("orderOf(%q, paymentID(%q, %q)) = %q, %v; want %q, true", pair[0], pair[0], pair[1], got, ok, pair[1])
		}
		if len(ownerTag(pair[0])) != ownerTagLen {
			t.Errorf("len(ownerTag(%q)) = %d; want %d", pair[0], len(ownerTag(pair[0])), ownerTagLen)
		}
	}
	for _, ref := range []string{"card-123", paymentID("bob", "order-1"), ownerTag("alice")} {
		if got, ok := orderOf("alice", ref); ok {
			t.Errorf("orderOf(alice, %q) = %q, true; want false", ref, got)
		}
	}
}
