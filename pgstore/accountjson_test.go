package pgstore

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/wallet"
)

// jsonbForm rewrites JSON as jsonb prints it back: ", " and ": " between
// members (the order of keys does not matter to the readers).
func jsonbForm(t *testing.T, data []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	out := bytes.TrimSpace(b.Bytes())
	out = bytes.ReplaceAll(out, []byte(`","`), []byte(`", "`))
	out = bytes.ReplaceAll(out, []byte(`":`), []byte(`": `))
	return out
}

// FuzzAccountJSON: the lots and holds written by hand are what
// encoding/json writes of lotRow and holdRow, read back by encoding/json;
// read by hand from jsonb's form, or from any other, they are what
// encoding/json reads.
func FuzzAccountJSON(f *testing.F) {
	f.Add("lot-1", "card_0123", uint8(1), int64(2500), int64(0), int64(1.8e9), "hold-1", "payment \"7\"\n", "checkout")
	f.Add("", "\xff\x00<&>", uint8(0), int64(-1), int64(9), int64(-62135596800), "", "é", "\u2028")
	f.Fuzz(func(t *testing.T, id, source string, class uint8, remaining, reserved, at int64, holdID, ref, placer string) {
		eur := giftkit.EUR
		when := time.Unix(at, at%1e9).UTC() // years beyond 9999 too, which encoding/json refuses
		lots := []wallet.Lot{{ID: id, Source: source, Class: giftkit.ValueClass(class), Remaining: giftkit.FromMinor(remaining, eur),
			Reserved: giftkit.FromMinor(reserved, eur), ExpiresAt: when, CreatedAt: when.Add(time.Nanosecond)},
			{ID: source, Source: id, ExpiresAt: time.Time{}, CreatedAt: when}}
		holds := []wallet.Hold{{ID: holdID, Amount: giftkit.FromMinor(reserved, eur), Reference: ref, Placer: placer,
			Parts: []wallet.HoldPart{{LotID: id, Amount: giftkit.FromMinor(remaining, eur)}, {LotID: source}}, ExpiresAt: when, CreatedAt: when}, {ID: ref}}
		st := wallet.AccountState{Lots: lots, Holds: holds}
		lotsJSON, holdsJSON, err := accountJSON(st)

		var wantLots []lotRow
		for _, l := range lots {
			wantLots = append(wantLots, lotRow{l.ID, l.Source, uint8(l.Class), l.Remaining.Minor(), l.Reserved.Minor(), l.ExpiresAt, l.CreatedAt})
		}
		var wantHolds []holdRow
		for _, h := range holds {
			parts := []partRow{}
			for _, p := range h.Parts {
				parts = append(parts, partRow{p.LotID, p.Amount.Minor()})
			}
			wantHolds = append(wantHolds, holdRow{h.ID, h.Amount.Minor(), h.Reference, h.Placer, parts, h.ExpiresAt, h.CreatedAt})
		}
		wantLotsJSON, lerr := json.Marshal(wantLots)
		wantHoldsJSON, herr := json.Marshal(wantHolds)
		if (err != nil) != (lerr != nil || herr != nil) {
			t.Fatalf("accountJSON error %v; encoding/json's %v, %v", err, lerr, herr)
		}
		if err != nil {
			return
		}
		for _, c := range []struct {
			name      string
			got, want []byte
			decode    func([]byte) (any, error)
			std       func([]byte) (any, error)
		}{
			{"lots", lotsJSON, wantLotsJSON,
				func(b []byte) (any, error) { return decodeLots(b) },
				func(b []byte) (any, error) { var v []lotRow; err := json.Unmarshal(b, &v); return v, err }},
			{"holds", holdsJSON, wantHoldsJSON,
				func(b []byte) (any, error) { return decodeHolds(b) },
				func(b []byte) (any, error) { var v []holdRow; err := json.Unmarshal(b, &v); return v, err }},
		} {
			// Written by hand, read by encoding/json: as encoding/json's own.
			got, err1 := c.std(c.got)
			want, err2 := c.std(c.want)
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: %v, %v", c.name, err1, err2)
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(lotRow{}, holdRow{})); diff != "" {
				t.Fatalf("%s written by hand, read by encoding/json (-want +got):\n%s", c.name, diff)
			}
			// Read by hand, from what was written and from jsonb's form.
			for _, form := range [][]byte{c.got, jsonbForm(t, c.got), []byte(` ` + string(c.want) + "\n")} {
				got, err := c.decode(form)
				want, werr := c.std(form)
				if (err != nil) != (werr != nil) {
					t.Fatalf("%s read by hand: %v; encoding/json: %v", c.name, err, werr)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("%s read by hand from %s (-want +got):\n%s", c.name, form, diff)
				}
			}
		}
	})
}

// The readers by hand take what they can and leave the rest to
// encoding/json, with its result.
func TestAccountJSONFallback(t *testing.T) {
	for _, data := range []string{
		`[{"id": "a\"b", "remaining": 1}]`, // an escape
		`[{"ID": "x"}]`,                    // a key in another case
		`[{"id": null}]`,
		`[{"remaining": 1.5}]`,
		`[{"remaining": 01}]`,
		`[{"class": 300}]`,
		`[{"unknown": 1, "id": "y"}]`,
		`[] x`,
		`null`,
		`[{"expires_at": "2026-13-01T00:00:00Z"}]`,
	} {
		got, err := decodeLots([]byte(data))
		var want []lotRow
		werr := json.Unmarshal([]byte(data), &want)
		if (err != nil) != (werr != nil) || !cmp.Equal(want, got) {
			t.Errorf("decodeLots(%s) = %v, %v; want %v, %v", data, got, err, want, werr)
		}
	}
}
