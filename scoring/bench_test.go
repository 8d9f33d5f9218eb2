package scoring

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkApply measures Apply on warm states, like a shard's steady
// traffic: 1024 users, each with ~300 events of history over 90 days
// (mixed types, including purchases, refunds and coupons), receive events in
// turn; each user's clock advances ~1 h per event it receives.
//   - mixed: the event types of the history mix;
//   - view, purchase, coupon: one type only;
//   - heavy_buyer: one user buying every 3 minutes (hundreds of day buckets).
func BenchmarkApply(b *testing.B) {
	for _, typ := range []string{"mixed", "view", "purchase", "coupon"} {
		b.Run(typ, func(b *testing.B) {
			m := newModel(b)
			const users = 1024
			r := rand.New(rand.NewPCG(1, 2))
			states := make([]State, users)
			nows := make([]int64, users)
			out := make([]Transition, 0, 16)
			for u := range states {
				now := t0
				for i := range 300 {
					now += r.Int64N(14 * hour)
					e := ev(fmt.Sprint(i), propTypes[r.IntN(len(propTypes))], now-r.Int64N(2*Day), 1000+r.Int64N(100_000))
					out = m.Apply(&states[u], e, now, out[:0])
				}
				nows[u] = now
			}
			events := make([]Event, 64)
			for i := range events {
				t := typ
				if t == "mixed" {
					t = propTypes[i%len(propTypes)]
				}
				events[i] = Event{ID: fmt.Sprint("b", i), User: "u", Type: t, Amount: 5000}
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				u := i % users
				nows[u] += hour
				e := &events[i%len(events)]
				e.TS = nows[u]
				out = m.Apply(&states[u], e, nows[u], out[:0])
				i++
			}
		})
	}
	b.Run("heavy_buyer", func(b *testing.B) {
		m := newModel(b)
		var s State
		out := make([]Transition, 0, 16)
		now := t0
		e := ev("p", "purchase", now, 1000)
		for range 365 * 24 * 20 { // a year of purchases every 3 minutes
			now += 3 * minute
			e.TS = now
			out = m.Apply(&s, e, now, out[:0])
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			now += 3 * minute
			e.TS = now
			out = m.Apply(&s, e, now, out[:0])
		}
	})
}

// BenchmarkCodec measures encoding and decoding a warm state.
func BenchmarkCodec(b *testing.B) {
	s := sampleState(b)
	buf := encode(b, s)
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]byte, 0, 1024)
		for b.Loop() {
			dst, _ = s.AppendBinary(dst[:0])
		}
		b.SetBytes(int64(len(dst)))
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		var d State
		for b.Loop() {
			if err := d.UnmarshalBinary(buf); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(len(buf)))
	})
}
