package jsonw

import (
	"encoding/json"
	"testing"

	"github.com/giftkit/giftkit"
)

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\`, "nl\n\r\t", "\x00\x1f\x7f", "\b\f", "<a&b>", "é漢字", "\xff\xfe", "\u2028\u2029", "a\u2028b"} {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s; want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "<&>", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("AppendString(%q) = %s; want %s", s, got, want)
		}
	})
}

func TestObject(t *testing.T) {
	eur, _ := giftkit.ParseMoney("12.50", giftkit.EUR)
	o := Begin(nil)
	o.String("s", "x")
	o.OmitEmpty("e", "")
	o.OmitEmpty("f", "y")
	o.Money("m", eur)
	o.Hex("h", []byte{0xab, 0x01})
	n := o.Object("n")
	n.String("k", "v")
	o.Close(n)
	got := string(o.End())
	want := `{"s":"x","f":"y","m":{"amount":"12.50","currency":"EUR"},"h":"ab01","n":{"k":"v"}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Error("not valid JSON")
	}
}

func TestArray(t *testing.T) {
	eur, _ := giftkit.ParseMoney("1.00", giftkit.EUR)
	o := Begin(nil)
	empty := o.Array("none")
	o.CloseArray(empty)
	a := o.Array("objects")
	for _, v := range []string{"a", "b"} {
		n := a.Object()
		n.String("k", v)
		a.Close(n)
	}
	o.CloseArray(a)
	m := o.Array("money")
	m.Money(eur)
	m.Money(eur)
	o.CloseArray(m)
	o.String("after", "z")
	got := string(o.End())
	want := `{"none":[],"objects":[{"k":"a"},{"k":"b"}],"money":[{"amount":"1.00","currency":"EUR"},{"amount":"1.00","currency":"EUR"}],"after":"z"}`
	if got != want || !json.Valid([]byte(got)) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
