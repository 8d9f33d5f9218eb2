package scoring

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// decodeNow is 2026-11-20T10:00:00Z in Unix ms.
const decodeNow int64 = 1_795_168_800_000

func TestDecodeValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Event
	}{
		{"issue example", `{"id":"e1","user":"u42","type":"purchase","ts":"2026-11-20T10:00:00Z","amount":60000}`,
			Event{ID: "e1", User: "u42", Type: "purchase", TS: decodeNow, Amount: 60_000_000}},
		{"integer ms", `{"id":"e1","user":"u42","type":"login","ts":1795168800000}`,
			Event{ID: "e1", User: "u42", Type: "login", TS: decodeNow}},
		{"surrogate pair escape", `{"id":"e\ud83d\ude00","user":"u42","type":"login","ts":1795168800000}`,
			Event{ID: "e😀", User: "u42", Type: "login", TS: decodeNow}},
		{"white space and field order", " \n\t{ \"ts\" : 1795168800000 , \"type\":\"view\",\"user\":\"u42\",\"id\":\"e1\" }\r\n",
			Event{ID: "e1", User: "u42", Type: "view", TS: decodeNow}},
		// 12:00:00.123456+02:00 = 10:00:00.123 UTC (sub-ms truncated)
		{"offset and fraction", `{"id":"e1","user":"u42","type":"login","ts":"2026-11-20T12:00:00.123456+02:00"}`,
			Event{ID: "e1", User: "u42", Type: "login", TS: decodeNow + 123}},
		// 09:59:59.5-00:00 = 9:59:59.500 → now − 500 ms
		{"fraction of one digit", `{"id":"e1","user":"u42","type":"login","ts":"2026-11-20T09:59:59.5Z"}`,
			Event{ID: "e1", User: "u42", Type: "login", TS: decodeNow - 500}},
		{"negative offset", `{"id":"e1","user":"u42","type":"login","ts":"2026-11-20T05:30:00-04:30"}`,
			Event{ID: "e1", User: "u42", Type: "login", TS: decodeNow}},
		{"escapes in id and key", `{"\u0069d":"a\"b\\c\u00e9\ud83d\ude00","user":"u42","type":"login","ts":1795168800000}`,
			Event{ID: "a\"b\\cé😀", User: "u42", Type: "login", TS: decodeNow}},
		{"custom type", `{"id":"e1","user":"u42","type":"game_level-2","ts":1795168800000}`,
			Event{ID: "e1", User: "u42", Type: "game_level-2", TS: decodeNow}},
		{"amount ignored on other types", `{"id":"e1","user":"u42","type":"view","ts":1795168800000,"amount":5}`,
			Event{ID: "e1", User: "u42", Type: "view", TS: decodeNow}},
		{"zero amount", `{"id":"e1","user":"u42","type":"purchase","ts":1795168800000,"amount":0}`,
			Event{ID: "e1", User: "u42", Type: "purchase", TS: decodeNow}},
		{"minus zero amount", `{"id":"e1","user":"u42","type":"refund","ts":1795168800000,"amount":-0.0}`,
			Event{ID: "e1", User: "u42", Type: "refund", TS: decodeNow}},
		{"max amount", `{"id":"e1","user":"u42","type":"purchase","ts":1795168800000,"amount":1e12}`,
			Event{ID: "e1", User: "u42", Type: "purchase", TS: decodeNow, Amount: 1e15}},
		{"ts at the future limit", `{"id":"e1","user":"u42","type":"login","ts":1795169100000}`,
			Event{ID: "e1", User: "u42", Type: "login", TS: decodeNow + 300_000}},
		{"ts at the age limit", `{"id":"e1","user":"u42","type":"login","ts":1760608800000}`,
			Event{ID: "e1", User: "u42", Type: "login", TS: decodeNow - 400*Day}},
		{"props", `{"id":"e1","user":"u42","type":"login","ts":1795168800000,"props":{"a":[1,{"b":null}],"c":"x"}}`,
			Event{ID: "e1", User: "u42", Type: "login", TS: decodeNow, Props: []byte(`{"a":[1,{"b":null}],"c":"x"}`)}},
		{"props 8 levels", `{"id":"e1","user":"u42","type":"login","ts":1795168800000,"props":{"a":[[[[[[[1]]]]]]]}}`,
			Event{ID: "e1", User: "u42", Type: "login", TS: decodeNow, Props: []byte(`{"a":[[[[[[[1]]]]]]]}`)}},
		{"128-byte id", `{"id":"` + strings.Repeat("x", 128) + `","user":"u42","type":"login","ts":1795168800000}`,
			Event{ID: strings.Repeat("x", 128), User: "u42", Type: "login", TS: decodeNow}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in), "u42", decodeNow, DefaultLimits())
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.ID != tt.want.ID || got.User != tt.want.User || got.Type != tt.want.Type ||
				got.TS != tt.want.TS || got.Amount != tt.want.Amount || !bytes.Equal(got.Props, tt.want.Props) {
				t.Errorf("got %+v (props %s), want %+v (props %s)", got, got.Props, tt.want, tt.want.Props)
			}
		})
	}
}

func TestDecodeAmountRounding(t *testing.T) {
	tests := []struct {
		amount string
		milli  int64
	}{
		{"1", 1000},
		{"12.3456", 12346}, // .6 rounds up
		{"12.3454", 12345}, // .4 rounds down
		{"1.0005", 1001},   // exact half: away from zero (float64 would give 1000)
		{"0.0005", 1},      // exact half
		{"0.00049999", 0},  // below half
		{"0.0004", 0},      // below half
		{"2.675", 2675},    // exact in decimal, not in binary
		{"1e3", 1_000_000}, // exponent
		{"1E-3", 1},        // negative exponent
		{"15e-4", 2},       // 0.0015 → 1.5 milli → 2
		{"0.000000001", 0}, // far below
		{"123456789.987654321", 123_456_789_988},
		{"1000000000000", 1e15},
		{"100000000000.0000001", 1e14},
	}
	for _, tt := range tests {
		in := `{"id":"e","user":"u","type":"purchase","ts":1795168800000,"amount":` + tt.amount + `}`
		ev, err := Decode([]byte(in), "u", decodeNow, DefaultLimits())
		if err != nil {
			t.Errorf("%s: %v", tt.amount, err)
			continue
		}
		if ev.Amount != tt.milli {
			t.Errorf("%s: Amount = %d, want %d", tt.amount, ev.Amount, tt.milli)
		}
	}
}

func TestDecodeInvalid(t *testing.T) {
	const base = `"id":"e1","user":"u42","type":"login","ts":1795168800000`
	obj := func(fields string) string { return "{" + fields + "}" }
	tests := []struct {
		name, in, subject, reason string
	}{
		{"empty", ``, "u42", ReasonEmpty},
		{"bad subject", obj(base), "", ReasonBadSubject},
		{"too large", obj(base + `,"props":{"p":"` + strings.Repeat("x", 65536) + `"}`), "u42", ReasonTooLarge},
		{"invalid utf8", "{\"id\":\"e\xff\",\"user\":\"u42\",\"type\":\"login\",\"ts\":1}", "u42", ReasonInvalidUTF8},
		// Lone surrogates would all decode to U+FFFD, making distinct IDs equal.
		{"lone high surrogate in id", `{"id":"\ud800","user":"u42","type":"login","ts":1}`, "u42", ReasonInvalidUTF8},
		{"lone low surrogate in id", `{"id":"\udc00","user":"u42","type":"login","ts":1}`, "u42", ReasonInvalidUTF8},
		{"reversed pair in user", `{"id":"e","user":"\udc00\ud800","type":"login","ts":1}`, "u42", ReasonInvalidUTF8},
		{"lone surrogate in a key", `{"id":"e","user":"u42","type":"login","ts":1,"\ud800":1}`, "u42", ReasonInvalidUTF8},
		{"not json", `hello`, "u42", ReasonNotJSON},
		{"white space only", "  \n", "u42", ReasonNotJSON},
		{"truncated", `{"id":"e1","user":"u4`, "u42", ReasonNotJSON},
		{"missing brace", `{"id":"e1"`, "u42", ReasonNotJSON},
		{"trailing comma", obj(base + `,`), "u42", ReasonNotJSON},
		{"single quotes", `{'id':'e1'}`, "u42", ReasonNotJSON},
		{"raw control char in string", "{\"id\":\"e\x01\"}", "u42", ReasonNotJSON},
		{"bad escape", `{"id":"e\x"}`, "u42", ReasonNotJSON},
		{"NaN amount", obj(base + `,"amount":NaN`), "u42", ReasonNotJSON},
		{"Infinity amount", obj(base + `,"amount":Infinity`), "u42", ReasonNotJSON},
		{"leading zero", obj(base + `,"amount":01`), "u42", ReasonNotJSON},
		{"array", `[1,2]`, "u42", ReasonNotObject},
		{"string", `"event"`, "u42", ReasonNotObject},
		{"null", `null`, "u42", ReasonNotObject},
		{"trailing data", obj(base) + ` {}`, "u42", ReasonTrailingData},
		{"two objects", obj(base) + obj(base), "u42", ReasonTrailingData},
		{"duplicate field", obj(base + `,"id":"e2"`), "u42", ReasonDuplicateField},
		{"duplicate via escape", obj(base + `,"\u0069d":"e2"`), "u42", ReasonDuplicateField},
		{"unknown field", obj(base + `,"extra":1`), "u42", ReasonUnknownField},
		{"case matters", obj(base + `,"ID":"x"`), "u42", ReasonUnknownField},
		{"missing id", `{"user":"u42","type":"login","ts":1795168800000}`, "u42", ReasonMissingID},
		{"missing user", `{"id":"e1","type":"login","ts":1795168800000}`, "u42", ReasonMissingUser},
		{"missing type", `{"id":"e1","user":"u42","ts":1795168800000}`, "u42", ReasonMissingType},
		{"missing ts", `{"id":"e1","user":"u42","type":"login"}`, "u42", ReasonMissingTS},
		{"empty object", `{}`, "u42", ReasonMissingID},
		{"id number", `{"id":1,"user":"u42","type":"login","ts":1}`, "u42", ReasonBadID},
		{"id null", `{"id":null}`, "u42", ReasonBadID},
		{"id empty", `{"id":""}`, "u42", ReasonInvalidID},
		{"id too long", `{"id":"` + strings.Repeat("x", 129) + `"}`, "u42", ReasonInvalidID},
		{"id control escape", `{"id":"a\u0000b"}`, "u42", ReasonInvalidID},
		{"id newline escape", `{"id":"a\nb"}`, "u42", ReasonInvalidID},
		{"id C1 control", "{\"id\":\"a\u0085b\"}", "u42", ReasonInvalidID},
		{"id DEL", "{\"id\":\"a\x7fb\"}", "u42", ReasonInvalidID},
		{"user object", `{"user":{}}`, "u42", ReasonBadUser},
		{"user empty", `{"user":""}`, "u42", ReasonInvalidUser},
		{"user too long", `{"user":"` + strings.Repeat("u", 129) + `"}`, "u42", ReasonInvalidUser},
		{"user tab", `{"user":"u\t42"}`, "u42", ReasonInvalidUser},
		{"user mismatch", `{"user":"u43"}`, "u42", ReasonUserMismatch},
		{"type bool", `{"type":true}`, "u42", ReasonBadType},
		{"type empty", `{"type":""}`, "u42", ReasonInvalidType},
		{"type upper case", `{"type":"Login"}`, "u42", ReasonInvalidType},
		{"type space", `{"type":"log in"}`, "u42", ReasonInvalidType},
		{"type too long", `{"type":"` + strings.Repeat("t", 65) + `"}`, "u42", ReasonInvalidType},
		{"type control", `{"type":"a\u0001"}`, "u42", ReasonInvalidType},
		{"ts bool", `{"ts":false}`, "u42", ReasonBadTS},
		{"ts garbage string", `{"ts":"yesterday"}`, "u42", ReasonBadTS},
		{"ts no zone", `{"ts":"2026-11-20T10:00:00"}`, "u42", ReasonBadTS},
		{"ts date only", `{"ts":"2026-11-20"}`, "u42", ReasonBadTS},
		{"ts Feb 30", `{"ts":"2026-02-30T10:00:00Z"}`, "u42", ReasonBadTS},
		{"ts hour 24", `{"ts":"2026-11-20T24:00:00Z"}`, "u42", ReasonBadTS},
		{"ts leap second", `{"ts":"2026-12-31T23:59:60Z"}`, "u42", ReasonBadTS},
		{"ts empty fraction", `{"ts":"2026-11-20T10:00:00.Z"}`, "u42", ReasonBadTS},
		{"ts before 1970", `{"ts":"1969-12-31T23:59:59Z"}`, "u42", ReasonBadTS},
		{"ts fractional ms", `{"ts":1795168800000.5}`, "u42", ReasonBadTS},
		{"ts exponent", `{"ts":1.7e12}`, "u42", ReasonBadTS},
		{"ts negative", `{"ts":-1}`, "u42", ReasonBadTS},
		{"ts overflow", `{"ts":99999999999999999999}`, "u42", ReasonBadTS},
		{"future ts", `{"id":"e1","user":"u42","type":"login","ts":1795169100001}`, "u42", ReasonFutureTS},
		{"stale ts", `{"id":"e1","user":"u42","type":"login","ts":1760608799999}`, "u42", ReasonStaleTS},
		{"stale RFC 3339 ts", `{"id":"e1","user":"u42","type":"login","ts":"2020-01-01T00:00:00Z"}`, "u42", ReasonStaleTS},
		{"purchase without amount", `{"id":"e1","user":"u42","type":"purchase","ts":1795168800000}`, "u42", ReasonMissingAmount},
		{"refund without amount", `{"id":"e1","user":"u42","type":"refund","ts":1795168800000}`, "u42", ReasonMissingAmount},
		{"amount string", obj(base + `,"amount":"12"`), "u42", ReasonBadAmount},
		{"amount null", obj(base + `,"amount":null`), "u42", ReasonBadAmount},
		{"negative amount", obj(base + `,"amount":-0.01`), "u42", ReasonNegativeAmount},
		{"negative amount on view", `{"type":"view","amount":-5}`, "u42", ReasonNegativeAmount},
		{"absurd amount", obj(base + `,"amount":1000000000000.001`), "u42", ReasonAbsurdAmount},
		{"absurd exponent", obj(base + `,"amount":1e13`), "u42", ReasonAbsurdAmount},
		{"inf amount", obj(base + `,"amount":1e400`), "u42", ReasonAbsurdAmount},
		{"minus inf amount", obj(base + `,"amount":-1e400`), "u42", ReasonAbsurdAmount},
		{"huge exponent", obj(base + `,"amount":1e999999999999`), "u42", ReasonAbsurdAmount},
		{"props array", obj(base + `,"props":[1]`), "u42", ReasonBadProps},
		{"props null", obj(base + `,"props":null`), "u42", ReasonBadProps},
		{"props string", obj(base + `,"props":"{}"`), "u42", ReasonBadProps},
		{"props 9 levels", obj(base + `,"props":{"a":[[[[[[[[1]]]]]]]]}`), "u42", ReasonBadProps},
		{"props syntax", obj(base + `,"props":{"a":}`), "u42", ReasonNotJSON},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode([]byte(tt.in), tt.subject, decodeNow, DefaultLimits())
			var ie *InvalidEventError
			if !errors.As(err, &ie) {
				t.Fatalf("Decode(%.80q) = %+v, %v; want reason %s", tt.in, ev, err, tt.reason)
			}
			if ie.Reason != tt.reason {
				t.Fatalf("Decode(%.80q): reason %s (%s), want %s", tt.in, ie.Reason, ie.Detail, tt.reason)
			}
			if ie.Detail == "" || len(ie.Detail) > 300 {
				t.Errorf("detail %q: want non-empty, short", ie.Detail)
			}
			if ev.ID != "" || ev.Props != nil {
				t.Errorf("event not zero on error: %+v", ev)
			}
			seen[ie.Reason] = true
		})
	}
	for _, r := range Reasons() {
		if !seen[r] {
			t.Errorf("reason %s has no test case", r)
		}
	}
}

func TestDecodeDetailQuotesValue(t *testing.T) {
	_, err := Decode([]byte(`{"user":"intruder"}`), "u42", decodeNow, DefaultLimits())
	if err == nil || !strings.Contains(err.Error(), `"intruder"`) {
		t.Fatalf("error %v does not quote the bad value", err)
	}
	long := strings.Repeat("é", 200)
	_, err = Decode([]byte(`{"type":"`+long+`"}`), "u42", decodeNow, DefaultLimits())
	var ie *InvalidEventError
	if !errors.As(err, &ie) || len(ie.Detail) > 200 || !strings.HasSuffix(ie.Detail, "…") {
		t.Fatalf("detail not truncated: %v", err)
	}
}

func TestDecodePropsIsACopy(t *testing.T) {
	in := []byte(`{"id":"e1","user":"u42","type":"login","ts":1795168800000,"props":{"a":1}}`)
	ev, err := Decode(in, "u42", decodeNow, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'X'
	}
	if string(ev.Props) != `{"a":1}` || ev.ID != "e1" {
		t.Fatalf("event aliases the input: %+v %s", ev, ev.Props)
	}
}

// Every prefix of a valid message is rejected, never accepted or panicking.
func TestDecodePrefixes(t *testing.T) {
	in := `{"id":"e1","user":"u42","type":"purchase","ts":"2026-11-20T10:00:00.5Z","amount":12.5e1,"props":{"k":["v",true,null,-1.5E+2,{"n":"\u00e9"}]}}`
	if _, err := Decode([]byte(in), "u42", decodeNow, DefaultLimits()); err != nil {
		t.Fatal(err)
	}
	for i := range len(in) {
		if ev, err := Decode([]byte(in[:i]), "u42", decodeNow, DefaultLimits()); err == nil {
			t.Fatalf("prefix %q accepted: %+v", in[:i], ev)
		}
	}
}

func TestLimitsValidate(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatal(err)
	}
	err := Limits{MaxPayload: 0, MaxFuture: -time.Second, MaxAge: 0, MaxAmount: -1}.Validate()
	if !errors.Is(err, ErrInvalidLimits) || !strings.Contains(err.Error(), "MaxAmount = -1") {
		t.Fatalf("Validate = %v", err)
	}
}

func BenchmarkDecode(b *testing.B) {
	cases := []struct{ name, in string }{
		{"minimal", `{"id":"e1","user":"u42","type":"login","ts":1795168800000}`},
		{"purchase_rfc3339", `{"id":"evt-000123456","user":"u42","type":"purchase","ts":"2026-11-20T10:00:00.123Z","amount":59.99}`},
		{"props", `{"id":"evt-000123456","user":"u42","type":"view","ts":1795168800000,"props":{"page":"/p/123","ref":"email","tags":["a","b"],"n":3}}`},
	}
	lim := DefaultLimits()
	for _, c := range cases {
		data := []byte(c.in)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Decode(data, "u42", decodeNow, lim); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
