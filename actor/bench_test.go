package actor_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/strata-io/strata/actor"
)

type benchState struct{ N, Sum int64 }

type benchMsg struct {
	Key   string
	Value int64
}

type benchLoader struct{}

func (benchLoader) Load(string, *benchState) (bool, error) { return false, nil }

func benchKey(m *benchMsg) string { return m.Key }

func benchHandle(_ string, s *benchState, m *benchMsg) error {
	s.N++
	s.Sum += m.Value
	return nil
}

// benchDispatch measures one message per op: batches of batch messages with keys
// drawn uniformly from keys distinct keys, capacity resident at most.
func benchDispatch(b *testing.B, keys, capacity, batch, workers int, handle func(string, *benchState, *benchMsg) error) {
	cfg := actor.Config{Capacity: capacity, Workers: workers}
	h, err := actor.NewHost[benchState](cfg, benchLoader{}, func() *benchState { return new(benchState) }, func(s *benchState) { *s = benchState{} })
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("user-%08d", i)
	}
	// Activate everything first (as many as fit).
	warm := make([]benchMsg, keys)
	for i := range warm {
		warm[i] = benchMsg{Key: names[i], Value: 1}
	}
	if err := actor.Dispatch(h, warm, benchKey, handle); err != nil {
		b.Fatal(err)
	}
	// Pre-generate batches so the loop measures only Dispatch.
	rng := rand.New(rand.NewPCG(1, 1))
	batches := make([][]benchMsg, 64)
	for i := range batches {
		batches[i] = make([]benchMsg, batch)
		for j := range batches[i] {
			batches[i][j] = benchMsg{Key: names[rng.IntN(keys)], Value: int64(j)}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for done, i := 0, 0; done < b.N; i++ {
		msgs := batches[i%len(batches)]
		if n := b.N - done; n < len(msgs) {
			msgs = msgs[:n]
		}
		if err := actor.Dispatch(h, msgs, benchKey, handle); err != nil {
			b.Fatal(err)
		}
		done += len(msgs)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if h.Len() > capacity {
		b.Fatalf("resident %d > capacity %d", h.Len(), capacity)
	}
}

// BenchmarkDispatch: one worker (the FSM's configuration), resident keys hit,
// plus a churn case where half the messages activate (and evict) an actor.
func BenchmarkDispatch(b *testing.B) {
	for _, c := range []struct {
		name                  string
		keys, capacity, batch int
	}{
		{"keys=100k/batch=1000", 100_000, 100_000, 1000},
		{"keys=100k/batch=100", 100_000, 100_000, 100},
		{"keys=1k/batch=1000", 1000, 100_000, 1000},
		{"keys=100k/capacity=50k/batch=1000", 100_000, 50_000, 1000},
	} {
		b.Run(c.name, func(b *testing.B) { benchDispatch(b, c.keys, c.capacity, c.batch, 1, benchHandle) })
	}
}

// spin is a handler with some work (~hundreds of ns, like a score update plus
// encoding), where parallel keys pay off.
func spin(_ string, s *benchState, m *benchMsg) error {
	x := uint64(m.Value) | 1
	for range 20 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	s.N++
	s.Sum += int64(x & 1)
	return nil
}

// BenchmarkDispatchParallel: 100k resident keys, batches of 1000, by Workers,
// with a trivial handler and with one doing some work.
func BenchmarkDispatchParallel(b *testing.B) {
	for _, h := range []struct {
		name string
		fn   func(string, *benchState, *benchMsg) error
	}{{"trivial", benchHandle}, {"work", spin}} {
		for _, workers := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("%s/workers=%d", h.name, workers), func(b *testing.B) {
				benchDispatch(b, 100_000, 100_000, 1000, workers, h.fn)
			})
		}
	}
}

// BenchmarkPeek measures a Peek of a resident key.
func BenchmarkPeek(b *testing.B) {
	h, err := actor.NewHost[benchState](actor.DefaultConfig(), benchLoader{}, func() *benchState { return new(benchState) }, func(s *benchState) { *s = benchState{} })
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Do("u", func(s *benchState) error { s.N = 1; return nil }); err != nil {
		b.Fatal(err)
	}
	var n int64
	b.ReportAllocs()
	for b.Loop() {
		h.Peek("u", func(s *benchState) { n += s.N })
	}
	_ = n
}
