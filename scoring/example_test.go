package scoring_test

import (
	"fmt"
	"time"

	"github.com/strata-io/strata/scoring"
)

// A user buys, goes quiet, and the timers move them to silent and churned at
// the exact deadlines.
func Example() {
	m, err := scoring.NewModel(scoring.DefaultParams())
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixMilli()
	msg := []byte(`{"id":"e1","user":"u42","type":"purchase","ts":"2026-11-20T10:00:00Z","amount":60000}`)
	ev, err := scoring.Decode(msg, "u42", now, scoring.DefaultLimits())
	if err != nil {
		panic(err)
	}
	var s scoring.State
	var out []scoring.Transition
	out = m.Apply(&s, &ev, now, out[:0])
	print := func(out []scoring.Transition) {
		for _, t := range out {
			fmt.Printf("%s %s: %q → %q (%s, cause %s, seq %d)\n",
				time.UnixMilli(t.At).UTC().Format(time.DateTime), t.Dimension, t.From, t.To, t.Reason, t.Cause, t.Seq)
		}
	}
	print(out)

	state, _ := s.AppendBinary(nil) // persist; reload later
	var loaded scoring.State
	if err := loaded.UnmarshalBinary(state); err != nil {
		panic(err)
	}
	due := m.NextDue(&loaded)
	fmt.Println("next due:", time.UnixMilli(due).UTC().Format(time.DateTime))

	// The node was down: 40 days later the timer fires.
	print(m.Advance(&loaded, now+40*scoring.Day, out[:0]))
	sc := m.Scores(&loaded, now+40*scoring.Day)
	fmt.Printf("monetary %.0f, recency %.0f days, churn risk %.1f\n", sc.Monetary365d, sc.RecencyDays, sc.ChurnRisk)

	_, err = scoring.Decode([]byte(`{"id":"e2","user":"u42","type":"purchase","ts":1795168800000,"amount":-5}`), "u42", now, scoring.DefaultLimits())
	fmt.Println(err)
	// Output:
	// 2026-11-20 10:00:00 lifecycle: "" → "new" (first_seen_within_7d, cause e1, seq 1)
	// 2026-11-20 10:00:00 value: "" → "whale" (monetary_365d_ge_50000, cause e1, seq 1)
	// 2026-11-20 10:00:00 risk: "" → "normal" (fraud_risk_lt_60, cause e1, seq 1)
	// next due: 2026-11-27 10:00:00
	// 2026-11-27 10:00:00 lifecycle: "new" → "silent" (idle_ge_7d, cause timer, seq 2)
	// 2026-12-20 10:00:00 lifecycle: "silent" → "churned" (idle_ge_30d, cause timer, seq 3)
	// monetary 60000, recency 40 days, churn risk 100.0
	// scoring: invalid event: negative_amount: amount is negative: "-5"
}
