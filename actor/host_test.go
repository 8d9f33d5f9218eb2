package actor_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/strata-io/strata/actor"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  actor.Config
		want string // substring of the error, "" for valid
	}{
		{"default", actor.DefaultConfig(), ""},
		{"minimal", actor.Config{Capacity: 1, Workers: 1}, ""},
		{"zero value", actor.Config{}, "Capacity must be at least 1, got 0"},
		{"negative capacity", actor.Config{Capacity: -5, Workers: 1}, "got -5"},
		{"zero workers", actor.Config{Capacity: 10}, "Workers must be at least 1, got 0"},
		{"too many workers", actor.Config{Capacity: 10, Workers: 5000}, "got 5000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.cfg
			err := tt.cfg.Validate()
			if tt.cfg != before {
				t.Fatalf("Validate mutated the config: %+v -> %+v", before, tt.cfg)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, actor.ErrConfig) {
				t.Fatalf("Validate() = %v, want ErrConfig containing %q", err, tt.want)
			}
		})
	}
	if d := actor.DefaultConfig(); d.Capacity != 100_000 || d.Workers != 1 {
		t.Fatalf("DefaultConfig() = %+v", d)
	}
}

func TestNewHostRejects(t *testing.T) {
	l := newMemLoader()
	tests := []struct {
		name     string
		cfg      actor.Config
		loader   actor.Loader[counter]
		newState func() *counter
		reset    func(*counter)
	}{
		{"bad config", actor.Config{}, l, newCounter, resetCounter},
		{"nil loader", actor.DefaultConfig(), nil, newCounter, resetCounter},
		{"nil newState", actor.DefaultConfig(), l, nil, resetCounter},
		{"nil reset", actor.DefaultConfig(), l, newCounter, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := actor.NewHost(tt.cfg, tt.loader, tt.newState, tt.reset); !errors.Is(err, actor.ErrConfig) {
				t.Fatalf("NewHost() error = %v, want ErrConfig", err)
			}
		})
	}
}

func TestDoActivatesOnceAndHits(t *testing.T) {
	l := newMemLoader()
	l.state["a"] = counter{Sum: 10, Log: []int{10}}
	h := newHost(t, 10, 1, l)
	for i := 1; i <= 3; i++ {
		if err := h.Do("a", func(s *counter) error { s.Sum += i; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	var got int
	if !h.Peek("a", func(s *counter) { got = s.Sum }) || got != 16 {
		t.Fatalf("Peek(a) = %d, want 16", got)
	}
	if h.Peek("b", func(*counter) { t.Fatal("fn called for a key not resident") }) {
		t.Fatal("Peek(b) = true for a key never activated")
	}
	if n := l.loadCount("a"); n != 1 {
		t.Fatalf("loads of a = %d, want 1", n)
	}
	if st := h.Stats(); st != (actor.Stats{Activations: 1, Hits: 2}) {
		t.Fatalf("Stats() = %+v", st)
	}
}

func TestLRUPassivationAndReactivation(t *testing.T) {
	l := newMemLoader()
	var allocs int
	cfg := actor.Config{Capacity: 3, Workers: 1}
	h, err := actor.NewHost[counter](cfg, l, func() *counter { allocs++; return newCounter() }, resetCounter)
	if err != nil {
		t.Fatal(err)
	}
	do := func(keys ...string) {
		t.Helper()
		msgs := make([]msg, len(keys))
		for i, k := range keys {
			msgs[i] = msg{K: k, V: 1}
		}
		if err := actor.Dispatch(h, msgs, msgKey, apply(l)); err != nil {
			t.Fatal(err)
		}
	}
	all := []string{"a", "b", "c", "d", "e"}
	resident := func() []string {
		return slices.Sorted(func(yield func(string) bool) {
			for k := range snapshot(h, all) {
				if !yield(k) {
					return
				}
			}
		})
	}

	do("a")
	do("b")
	do("c")
	do("a") // a becomes most recent: b is now the LRU
	do("d") // evicts b
	if got, want := resident(), []string{"a", "c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("resident = %v, want %v", got, want)
	}
	do("b") // reactivates b from the loader, evicting c
	if got, want := resident(), []string{"a", "b", "d"}; !slices.Equal(got, want) {
		t.Fatalf("resident = %v, want %v", got, want)
	}
	var sum int
	h.Peek("b", func(s *counter) { sum = s.Sum })
	if sum != 2 || l.loadCount("b") != 2 {
		t.Fatalf("b: sum %d loads %d, want 2 and 2 (reactivated with its saved state)", sum, l.loadCount("b"))
	}
	if h.Len() != 3 {
		t.Fatalf("Len() = %d, want 3", h.Len())
	}
	if st := h.Stats(); st != (actor.Stats{Activations: 5, Hits: 1, Passivations: 2}) {
		t.Fatalf("Stats() = %+v", st)
	}
	if allocs != 3 {
		t.Fatalf("newState called %d times, want 3 (evicted states are reused)", allocs)
	}

	h.Passivate("a")
	h.Passivate("zzz") // not resident: no-op
	if h.Len() != 2 || h.Peek("a", func(*counter) {}) {
		t.Fatal("Passivate(a) left it resident")
	}
	h.Clear()
	if h.Len() != 0 || len(snapshot(h, all)) != 0 {
		t.Fatal("Clear left actors resident")
	}
	if st := h.Stats(); st.Passivations != 5 {
		t.Fatalf("Passivations = %d, want 5", st.Passivations)
	}
	do("a", "b", "c", "d", "e")
	if allocs != 5 || h.Len() != 3 {
		t.Fatalf("after Clear: newState calls %d (want 5: 3 reused), Len %d (want 3)", allocs, h.Len())
	}
}

func TestCallPinsItsActors(t *testing.T) {
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprint("workers=", workers), func(t *testing.T) {
			l := newMemLoader()
			h := newHost(t, 2, workers, l)
			// 100 distinct keys, each twice, far beyond Capacity 2: nobody may be
			// passivated mid-call and reloaded (that would lose the first message).
			var msgs []msg
			for round := range 2 {
				for k := range 100 {
					msgs = append(msgs, msg{K: fmt.Sprint("k", k), V: round + 1})
				}
			}
			if err := actor.Dispatch(h, msgs, msgKey, apply(nil)); err != nil {
				t.Fatal(err)
			}
			for k := range 100 {
				if n := l.loadCount(fmt.Sprint("k", k)); n != 1 {
					t.Fatalf("k%d loaded %d times in one call, want 1", k, n)
				}
			}
			if h.Len() != 2 {
				t.Fatalf("Len() = %d after the call, want Capacity 2", h.Len())
			}
			got := snapshot(h, []string{"k98", "k99"})
			want := map[string]counter{"k98": {3, []int{1, 2}}, "k99": {3, []int{1, 2}}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("resident = %v, want the most recent %v", got, want)
			}
		})
	}
}

func TestHoldRelease(t *testing.T) {
	l := newMemLoader()
	h := newHost(t, 2, 1, l)
	h.Hold()
	for _, k := range []string{"a", "b", "c", "a"} {
		if err := h.Do(k, func(s *counter) error { s.Sum++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if h.Len() != 3 || l.loadCount("a") != 1 {
		t.Fatalf("held: Len %d loads(a) %d, want 3 and 1", h.Len(), l.loadCount("a"))
	}
	h.Release()
	if h.Len() != 2 || h.Peek("b", func(*counter) {}) {
		t.Fatalf("released: Len %d, b resident %v; want 2 and b (the LRU) passivated", h.Len(), h.Peek("b", func(*counter) {}))
	}
	h.Release() // no-op
	if err := h.Do("d", func(*counter) error { return nil }); err != nil || h.Len() != 2 {
		t.Fatalf("after Release: err %v Len %d", err, h.Len())
	}
}

func TestErrorsPassivate(t *testing.T) {
	errDisk := errors.New("disk on fire")
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprint("workers=", workers), func(t *testing.T) {
			l := newMemLoader()
			l.fail["bad-load"] = errDisk
			h := newHost(t, 1000, workers, l)
			// Pad with many keys so that Workers 4 really runs the grouped path.
			var msgs []msg
			for i := range 200 {
				msgs = append(msgs, msg{K: fmt.Sprint("pad", i), V: i})
			}
			msgs = append(msgs,
				msg{K: "ok", V: 1},
				msg{K: "bad-handle", V: 1},
				msg{K: "bad-load", V: 1},
				msg{K: "bad-handle", V: 2, Fail: true},
				msg{K: "ok", V: 2},
				msg{K: "bad-handle", V: 3}, // after the failure: must not run
			)
			err := actor.Dispatch(h, msgs, msgKey, apply(l))
			// bad-load fails at its first message (index 202), before bad-handle's failure (203).
			if !errors.Is(err, errDisk) || !strings.Contains(err.Error(), `actor: load "bad-load"`) {
				t.Fatalf("Dispatch() = %v, want the wrapped load error", err)
			}
			if h.Peek("bad-handle", func(*counter) {}) || h.Peek("bad-load", func(*counter) {}) {
				t.Fatal("failed keys still resident")
			}
			if got := l.state["bad-handle"]; !reflect.DeepEqual(got, counter{1, []int{1}}) {
				t.Fatalf("bad-handle saved %v: a message after its failure ran", got)
			}
			var ok counter
			h.Peek("ok", func(s *counter) { ok = *s })
			if ok.Sum != 3 || h.Len() != 201 {
				t.Fatalf("ok.Sum %d Len %d, want 3 and 201: other keys must be unaffected", ok.Sum, h.Len())
			}

			// Only the handler error left: it is returned as is.
			delete(l.fail, "bad-load")
			err = actor.Dispatch(h, []msg{{K: "x", V: 1, Fail: true}}, msgKey, apply(l))
			if !errors.Is(err, errHandle) || strings.HasPrefix(err.Error(), "actor:") {
				t.Fatalf("Dispatch() = %v, want the handler's error unwrapped", err)
			}
			// Do: same rules.
			if err := h.Do("ok", func(s *counter) error { s.Sum = -1; return errHandle }); err != errHandle {
				t.Fatalf("Do() = %v, want errHandle", err)
			}
			if h.Peek("ok", func(*counter) {}) {
				t.Fatal("Do error left the key resident")
			}
			l.fail["y"] = errDisk
			if err := h.Do("y", func(*counter) error { t.Fatal("fn ran after a load error"); return nil }); !errors.Is(err, errDisk) {
				t.Fatalf("Do() = %v, want errDisk", err)
			}
		})
	}
}

// TestDeterminism checks that Workers 1 and 4 give identical states, errors and
// resident sets for the same random batches, including failures.
func TestDeterminism(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const nkeys = 300
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%03d", i)
	}
	var batches [][]msg
	for range 20 {
		b := make([]msg, 50+rng.IntN(1000))
		for i := range b {
			b[i] = msg{K: keys[rng.IntN(nkeys)], V: rng.IntN(1000), Fail: rng.IntN(500) == 0}
		}
		batches = append(batches, b)
	}
	type outcome struct {
		errs     []string
		resident map[string]counter
		stored   map[string]counter
	}
	run := func(workers int) outcome {
		l := newMemLoader()
		l.fail["user-007"] = errors.New("unreadable")
		h := newHost(t, 200, workers, l)
		var o outcome
		for _, b := range batches {
			err := actor.Dispatch(h, b, msgKey, apply(l))
			o.errs = append(o.errs, fmt.Sprint(err))
		}
		o.resident = snapshot(h, keys)
		o.stored = l.state
		return o
	}
	want := run(1)
	for _, workers := range []int{2, 4, 8} {
		if got := run(workers); !reflect.DeepEqual(got, want) {
			t.Fatalf("Workers %d differs from Workers 1:\nerrs %v\nwant %v", workers, got.errs, want.errs)
		}
	}
}

func TestDispatchOrderPerKey(t *testing.T) {
	tests := []struct {
		name          string
		keys, msgs    int
		workers, capa int
	}{
		{"one key inline", 1, 100, 1, 10},
		{"one key grouped", 1, 1000, 4, 10},
		{"few keys", 3, 1000, 4, 10},
		{"many keys", 500, 5000, 4, 1000},
		{"many keys tiny capacity", 500, 5000, 2, 5},
		{"empty", 0, 0, 4, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newMemLoader()
			h := newHost(t, tt.capa, tt.workers, l)
			msgs := make([]msg, tt.msgs)
			want := map[string][]int{}
			for i := range msgs {
				k := fmt.Sprint("k", (i*7919)%tt.keys)
				msgs[i] = msg{K: k, V: i}
				want[k] = append(want[k], i)
			}
			if err := actor.Dispatch(h, msgs, msgKey, apply(l)); err != nil {
				t.Fatal(err)
			}
			for k, w := range want {
				if got := l.state[k].Log; !slices.Equal(got, w) {
					t.Fatalf("%s saw %v, want %v", k, got, w)
				}
			}
		})
	}
}

// TestKeyAliasing checks that the Host copies keys: callers may reuse the
// memory their keys point into.
func TestKeyAliasing(t *testing.T) {
	l := newMemLoader()
	h := newHost(t, 10, 1, l)
	buf := []byte("aaaa")
	// A key string sharing memory with buf, as decoders sometimes produce.
	key := func(*msg) string { return string(buf) }
	if err := actor.Dispatch(h, []msg{{K: "aaaa", V: 1}}, key, func(string, *counter, *msg) error { return nil }); err != nil {
		t.Fatal(err)
	}
	copy(buf, "bbbb")
	if !h.Peek("aaaa", func(*counter) {}) || h.Peek("bbbb", func(*counter) {}) {
		t.Fatal("resident key changed with the caller's buffer")
	}
}

func TestPeekConcurrentWithDispatch(t *testing.T) {
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprint("workers=", workers), func(t *testing.T) {
			l := newMemLoader()
			h := newHost(t, 50, workers, l)
			keys := make([]string, 100)
			for i := range keys {
				keys[i] = fmt.Sprint("k", i)
			}
			var stop atomic.Bool
			var peeks atomic.Int64
			var wg sync.WaitGroup
			for r := range 3 {
				wg.Go(func() {
					for i := r; !stop.Load(); i++ {
						h.Peek(keys[i%len(keys)], func(s *counter) {
							// Invariant kept between messages: Sum is the sum of Log.
							sum := 0
							for _, v := range s.Log {
								sum += v
							}
							if sum != s.Sum {
								t.Errorf("Peek saw a torn state: sum %d, Log sums to %d", s.Sum, sum)
							}
						})
						_ = h.Len()
						_ = h.Stats()
						peeks.Add(1)
						runtime.Gosched() // readers are not meant to spin: leave the owner its CPU
					}
				})
			}
			rng := rand.New(rand.NewPCG(3, 4))
			msgs := make([]msg, 500)
			for round := 0; round < 200 || peeks.Load() < 1000; round++ {
				for i := range msgs {
					msgs[i] = msg{K: keys[rng.IntN(len(keys))], V: 1 + rng.IntN(9), Fail: rng.IntN(1000) == 0}
				}
				if err := actor.Dispatch(h, msgs, msgKey, apply(nil)); err != nil && !errors.Is(err, errHandle) {
					t.Fatal(err)
				}
				if round%10 == 0 {
					h.Passivate(keys[round%len(keys)])
				}
				if round%50 == 0 {
					h.Clear()
				}
			}
			stop.Store(true)
			wg.Wait()
		})
	}
}

func TestPanicInWorkerReachesCaller(t *testing.T) {
	h := newHost(t, 1000, 4, newMemLoader())
	msgs := make([]msg, 1000)
	for i := range msgs {
		msgs[i] = msg{K: fmt.Sprint(i), V: i}
	}
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("recovered %v, want boom", r)
		}
	}()
	_ = actor.Dispatch(h, msgs, msgKey, func(_ string, _ *counter, m *msg) error {
		if m.V == 777 {
			panic("boom")
		}
		return nil
	})
	t.Fatal("Dispatch returned despite a panicking handler")
}

// TestSteadyStateAllocs checks the hot path: hits and activations that evict
// (reusing the evicted state and key buffer) allocate nothing.
func TestSteadyStateAllocs(t *testing.T) {
	l := nopLoader{}
	cfg := actor.Config{Capacity: 100, Workers: 1}
	h, err := actor.NewHost[counter](cfg, l, newCounter, resetCounter)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]msg, 1000)
	for i := range msgs {
		msgs[i] = msg{K: fmt.Sprint("user-", i%300), V: 1} // 300 keys over capacity 100: constant churn
	}
	handle := func(_ string, s *counter, m *msg) error { s.Sum += m.V; return nil }
	_ = actor.Dispatch(h, msgs, msgKey, handle) // warm up
	if n := testing.AllocsPerRun(20, func() { _ = actor.Dispatch(h, msgs, msgKey, handle) }); n != 0 {
		t.Fatalf("Dispatch allocates %v times per call in steady state, want 0", n)
	}
	if st := h.Stats(); st.Activations < 1000 || st.Passivations < 900 {
		t.Fatalf("Stats() = %+v: expected churn", st)
	}
}

type nopLoader struct{}

func (nopLoader) Load(string, *counter) (bool, error) { return false, nil }
