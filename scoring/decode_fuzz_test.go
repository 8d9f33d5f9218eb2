package scoring

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"unicode/utf8"
)

// FuzzDecode checks that Decode never panics, that every rejection carries a
// known reason code, and that every accepted event satisfies the contract.
// The seed corpus lives in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"id":"e1","user":"u42","type":"purchase","ts":"2026-11-20T10:00:00Z","amount":60000}`))
	lim := DefaultLimits()
	reasons := Reasons()
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Decode(data, "u42", decodeNow, lim)
		if err != nil {
			var ie *InvalidEventError
			if !errors.As(err, &ie) || !slices.Contains(reasons, ie.Reason) {
				t.Fatalf("error %v is not an *InvalidEventError with a known reason", err)
			}
			if ev.ID != "" || ev.Type != "" || ev.Props != nil {
				t.Fatalf("non-zero event on error: %+v", ev)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		switch {
		case len(ev.ID) < 1 || len(ev.ID) > MaxIDLen || hasControl([]byte(ev.ID)) || !utf8.ValidString(ev.ID):
			t.Fatalf("bad id %q", ev.ID)
		case ev.User != "u42":
			t.Fatalf("user %q", ev.User)
		case len(ev.Type) < 1 || len(ev.Type) > MaxTypeLen:
			t.Fatalf("type %q", ev.Type)
		case ev.TS < decodeNow-lim.MaxAge.Milliseconds() || ev.TS > decodeNow+lim.MaxFuture.Milliseconds():
			t.Fatalf("ts %d out of range", ev.TS)
		case ev.Amount < 0 || ev.Amount > int64(lim.MaxAmount*1000):
			t.Fatalf("amount %d out of range", ev.Amount)
		case ev.Amount != 0 && ev.Type != TypePurchase && ev.Type != TypeRefund:
			t.Fatalf("amount %d kept on type %s", ev.Amount, ev.Type)
		case ev.Props != nil && (!json.Valid(ev.Props) || ev.Props[0] != '{'):
			t.Fatalf("props %q", ev.Props)
		}
		// encoding/json agrees on the fields it can read.
		var std struct {
			ID, User, Type string
		}
		if err := json.Unmarshal(data, &std); err != nil || std.ID != ev.ID || std.Type != ev.Type {
			t.Fatalf("encoding/json reads %+v (%v), Decode %+v", std, err, ev)
		}
	})
}
