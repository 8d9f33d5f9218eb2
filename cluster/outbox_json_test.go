package cluster

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/strata-io/strata/scoring"
)

// jsonPieces are the fragments random strings are built from: plain text,
// every character encoding/json escapes, multi-byte runes, U+2028/9 and
// invalid UTF-8.
var jsonPieces = []string{
	"u42", "whale", "ev-1", " ", "é", "日本", "😀", "\"", "\\", "/", "<", ">", "&",
	"\n", "\r", "\t", "\b", "\f", "\x00", "\x01", "\x1f", "\x7f", "\u2028", "\u2029",
	"\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", string(utf8.RuneError),
}

func randJSONString(rng *rand.Rand) string {
	var sb strings.Builder
	for range rng.IntN(6) {
		sb.WriteString(jsonPieces[rng.IntN(len(jsonPieces))])
	}
	return sb.String()
}

func randJSONFloat(rng *rand.Rand) float64 {
	switch rng.IntN(8) {
	case 0:
		return 0
	case 1:
		return math.Copysign(0, -1)
	case 2:
		return -1
	case 3: // around the exponent-form thresholds
		return []float64{1e-6, 9.99e-7, 1e-7, 1.5e-9, 1e21, 9.99e20, 1e22, 123456789e13}[rng.IntN(8)]
	case 4:
		return math.Float64frombits(rng.Uint64()) // any finite bit pattern
	default:
		return (rng.Float64() - 0.3) * math.Pow(10, float64(rng.IntN(40)-20))
	}
}

// TestTransitionJSONMatchesEncodingJSON holds appendTransitionJSON to
// json.Marshal's exact bytes over random messages.
func TestTransitionJSONMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range 30_000 {
		msg := TransitionMessage{
			User: randJSONString(rng), Dimension: randJSONString(rng), From: randJSONString(rng), To: randJSONString(rng),
			Seq:   rng.Uint64() >> rng.IntN(64),
			At:    time.UnixMilli(rng.Int64N(253402300799999)).UTC(), // years 1970..9999
			Model: randJSONString(rng), Reason: randJSONString(rng), Cause: randJSONString(rng),
			Scores: scoring.Scores{
				Activity: randJSONFloat(rng), ActiveDays7: rng.IntN(8), ActiveDays30: rng.IntN(31) - rng.IntN(2),
				Monetary365d: randJSONFloat(rng), Purchases90d: rng.IntN(1 << 20), RecencyDays: randJSONFloat(rng),
				ChurnRisk: randJSONFloat(rng), FraudRisk: randJSONFloat(rng),
			},
		}
		if math.IsNaN(msg.Scores.Activity) || math.IsInf(msg.Scores.Activity, 0) {
			msg.Scores.Activity = 1
		}
		for _, f := range []*float64{&msg.Scores.Monetary365d, &msg.Scores.RecencyDays, &msg.Scores.ChurnRisk, &msg.Scores.FraudRisk} {
			if math.IsNaN(*f) || math.IsInf(*f, 0) {
				*f = 2
			}
		}
		want, err := json.Marshal(&msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendTransitionJSON([]byte("prefix"), &msg)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got[len("prefix"):], want) || string(got[:len("prefix")]) != "prefix" {
			t.Fatalf("message %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// TestTransitionJSONRejectsWhatEncodingJSONRejects: non-finite scores and
// times outside years 0..9999 are errors, as with json.Marshal.
func TestTransitionJSONRejectsWhatEncodingJSONRejects(t *testing.T) {
	for name, msg := range map[string]TransitionMessage{
		"NaN":        {Scores: scoring.Scores{ChurnRisk: math.NaN()}},
		"+Inf":       {Scores: scoring.Scores{Monetary365d: math.Inf(1)}},
		"year 10000": {At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"year -1":    {At: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := json.Marshal(&msg); err == nil {
			t.Fatalf("%s: json.Marshal accepted it; the case is wrong", name)
		}
		if _, err := appendTransitionJSON(nil, &msg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func BenchmarkTransitionJSON(b *testing.B) {
	msg := TransitionMessage{User: "user-000042", Dimension: "value", From: "long_tail", To: "high_potential", Seq: 3,
		At: time.UnixMilli(1763900000123).UTC(), Model: "default@v1", Reason: "monetary_365d", Cause: "ev-123456",
		Scores: scoring.Scores{Activity: 12.75, ActiveDays7: 3, ActiveDays30: 11, Monetary365d: 12345.67, Purchases90d: 4,
			RecencyDays: 2.5, ChurnRisk: 0.125, FraudRisk: 0.0625}}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := json.Marshal(&msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for range b.N {
			var err error
			if buf, err = appendTransitionJSON(buf[:0], &msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
