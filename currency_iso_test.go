package giftkit_test

import (
	"bufio"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/giftkit/giftkit"
)

// TestISO4217 checks the currencies ParseCurrency knows against
// testdata/iso4217.tsv, a dated copy of the ISO 4217 list: each is in the
// list with the same minor units, and each currency the list names as a
// country's is known. scripts/refresh-iso4217 renews the file; a failure
// after a refresh is an amendment to act on, in currency.go or here.
func TestISO4217(t *testing.T) {
	list, source := readISO4217(t, "testdata/iso4217.tsv")

	// Codes ParseCurrency knows although the list lacks them, and why.
	notInList := map[string]string{
		"UYW": "ISO 4217 has had Uruguay's Unidad Previsional (927, 4 minor units) since 2018; the JDK's data the list comes from does not",
	}
	// Countries' currencies that ParseCurrency does not know, and why.
	unknown := map[string]string{}

	// Every code ParseCurrency accepts is three letters A–Z: try them all,
	// so that the test sees the table only through ParseCurrency.
	known := map[string]bool{}
	for _, code := range allCodes() {
		c, err := giftkit.ParseCurrency(code)
		if err != nil {
			continue
		}
		known[code] = true
		e, inList := list[code]
		switch {
		case !inList && notInList[code] == "":
			t.Errorf("ParseCurrency(%q) = %s with %d minor units; the ISO 4217 list has no %s", code, c, c.MinorUnits(), code)
		case inList && notInList[code] != "":
			t.Errorf("%s is in the ISO 4217 list now: remove it from notInList, so that its minor units are checked", code)
		case inList && e.minor != c.MinorUnits():
			t.Errorf("ParseCurrency(%q) has %d minor units; the ISO 4217 list says %s", code, c.MinorUnits(), e.minorText())
		}
	}
	for _, code := range slices.Sorted(maps.Keys(list)) {
		e := list[code]
		if len(e.countries) == 0 {
			continue
		}
		switch {
		case !known[code] && unknown[code] == "":
			t.Errorf("ParseCurrency(%q) fails; %s (%s minor units) is the currency of %s", code, code, e.minorText(), strings.Join(e.countries, ", "))
		case known[code] && unknown[code] != "":
			t.Errorf("ParseCurrency(%q) succeeds: remove %s from unknown", code, code)
		}
	}
	for _, code := range slices.Sorted(maps.Keys(notInList)) {
		if !known[code] {
			t.Errorf("notInList names %s, which ParseCurrency does not know: remove it", code)
		}
	}
	for _, code := range slices.Sorted(maps.Keys(unknown)) {
		if len(list[code].countries) == 0 {
			t.Errorf("unknown names %s, which the list gives no country: remove it", code)
		}
	}
	if t.Failed() {
		t.Logf("list: %s", source)
	}
}

// isoEntry is a line of testdata/iso4217.tsv.
type isoEntry struct {
	minor     int      // -1: ISO 4217 gives none (XAU, XTS)
	countries []string // empty: no country's currency on the list's date
}

func (e isoEntry) minorText() string {
	if e.minor < 0 {
		return "none"
	}
	return strconv.Itoa(e.minor)
}

// readISO4217 reads the file scripts/refresh-iso4217 writes: comment lines
// starting with #, among them its source and date, which it returns, a
// header line, and a line per code with its numeric code, minor units and
// countries.
func readISO4217(t *testing.T, name string) (list map[string]isoEntry, source string) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	list = map[string]isoEntry{}
	var header bool
	var generated string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# Source: "); ok {
			source = rest
		}
		if rest, ok := strings.CutPrefix(line, "# Generated: "); ok {
			generated, _, _ = strings.Cut(rest, " ")
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		if !header {
			if line != "code\tnumeric\tminor\tcountries" {
				t.Fatalf("%s:%d: header %q; want code, numeric, minor and countries", name, n, line)
			}
			header = true
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 4 || !isCode(fields[0]) || len(fields[1]) != 3 {
			t.Fatalf("%s:%d: malformed line %q", name, n, line)
		}
		if _, dup := list[fields[0]]; dup {
			t.Fatalf("%s:%d: %s listed twice", name, n, fields[0])
		}
		e := isoEntry{minor: -1}
		if fields[2] != "-" {
			if e.minor, err = strconv.Atoi(fields[2]); err != nil || e.minor < 0 {
				t.Fatalf("%s:%d: minor units %q", name, n, fields[2])
			}
		}
		if fields[3] != "-" {
			e.countries = strings.Split(fields[3], ",")
		}
		list[fields[0]] = e
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if source == "" || generated == "" || !header || len(list) == 0 {
		t.Fatalf("%s: no source, date, header or codes: regenerate it with scripts/refresh-iso4217", name)
	}
	return list, source + ", generated " + generated
}

func isCode(s string) bool {
	return len(s) == 3 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
}

// allCodes returns every string of three letters A–Z.
func allCodes() []string {
	codes := make([]string, 0, 26*26*26)
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			for c := 'A'; c <= 'Z'; c++ {
				codes = append(codes, string([]rune{a, b, c}))
			}
		}
	}
	return codes
}
