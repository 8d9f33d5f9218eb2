package actor_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/strata-io/strata/actor"
)

// lruModel is the reference semantics of the resident set: an exact LRU by
// last touch, pinning what the current call (or Hold span) touched, errors
// passivating at once (Do, FireDue) or when the call returns (Dispatch).
type lruModel struct {
	capacity int
	order    []string // most recent first
	pinned   map[string]bool
	held     bool
	stats    actor.Stats
}

func (m *lruModel) index(k string) int { return slices.Index(m.order, k) }

// touch reports whether this is the key's first touch of the epoch.
func (m *lruModel) touch(k string) bool {
	if i := m.index(k); i >= 0 {
		m.order = slices.Insert(slices.Delete(m.order, i, i+1), 0, k)
		if m.pinned[k] {
			return false
		}
		m.pinned[k] = true
		m.stats.Hits++
		return true
	}
	if n := len(m.order); n >= m.capacity && n > 0 && !m.pinned[m.order[n-1]] {
		m.order = m.order[:n-1]
		m.stats.Passivations++
	}
	m.order = slices.Insert(m.order, 0, k)
	m.pinned[k] = true
	m.stats.Activations++
	return true
}

func (m *lruModel) drop(k string) {
	if i := m.index(k); i >= 0 {
		m.order = slices.Delete(m.order, i, i+1)
		m.stats.Passivations++
	}
}

func (m *lruModel) begin() {
	if !m.held {
		m.pinned = map[string]bool{}
	}
}

func (m *lruModel) trim() {
	for len(m.order) > m.capacity {
		m.order = m.order[:len(m.order)-1]
		m.stats.Passivations++
	}
}

func (m *lruModel) end() {
	if !m.held {
		m.trim()
	}
}

// TestLRUModel drives a Host and the reference model with the same random
// calls (Dispatch with handler and Loader errors, Do, Passivate, Clear,
// Hold/Release) and compares the resident set and Stats after every call.
func TestLRUModel(t *testing.T) {
	for _, workers := range []int{1, 2} {
		for seed := range uint64(20) {
			t.Run(fmt.Sprintf("workers=%d/seed=%d", workers, seed), func(t *testing.T) {
				testLRUModel(t, workers, seed)
			})
		}
	}
}

func testLRUModel(t *testing.T, workers int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 99))
	nkeys := 5 + r.IntN(200)
	capacity := 1 + r.IntN(nkeys)
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
		if i%7 == 0 {
			keys[i] += "-a-key-longer-than-the-inline-storage-of-an-entry"
		}
	}
	l := newMemLoader()
	l.fail[keys[3]] = errors.New("unreadable")
	h := newHost(t, capacity, workers, l)
	m := &lruModel{capacity: capacity, pinned: map[string]bool{}}
	handle := apply(l)
	for step := range 400 {
		var op string
		switch x := r.IntN(20); {
		case x < 12:
			op = "dispatch"
			msgs := make([]msg, 1+r.IntN(150))
			for i := range msgs {
				msgs[i] = msg{K: keys[r.IntN(len(keys))], V: i, Fail: r.IntN(200) == 0}
			}
			_ = actor.Dispatch(h, msgs, msgKey, handle)
			m.begin()
			failed := map[string]bool{}
			for _, mg := range msgs {
				first := m.touch(mg.K)
				if failed[mg.K] {
					continue
				}
				if first && mg.K == keys[3] || mg.Fail {
					failed[mg.K] = true
				}
			}
			for k := range failed {
				m.drop(k)
			}
			m.end()
		case x < 15:
			op = "do"
			k := keys[r.IntN(len(keys))]
			fail := r.IntN(10) == 0
			_ = h.Do(k, func(*counter) error {
				if fail {
					return errHandle
				}
				return nil
			})
			m.begin()
			m.touch(k)
			if fail || k == keys[3] {
				m.drop(k)
			}
			m.end()
		case x < 16:
			op = "passivate"
			k := keys[r.IntN(len(keys))]
			h.Passivate(k)
			m.drop(k)
		case x < 17 && r.IntN(4) == 0:
			op = "clear"
			h.Clear()
			m.stats.Passivations += uint64(len(m.order))
			m.order = m.order[:0]
		case x < 19:
			op = "hold"
			h.Hold()
			if !m.held {
				m.pinned = map[string]bool{}
				m.held = true
			}
		default:
			op = "release"
			h.Release()
			if m.held {
				m.held = false
				m.trim()
			}
		}
		want := slices.Sorted(slices.Values(m.order))
		var got []string
		for _, k := range keys {
			if h.Peek(k, func(*counter) {}) {
				got = append(got, k)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) || h.Len() != len(want) || h.Stats() != m.stats {
			t.Fatalf("step %d (%s, capacity %d): resident %v (Len %d), stats %+v; model %v, %+v",
				step, op, capacity, got, h.Len(), h.Stats(), want, m.stats)
		}
	}
}

// TestHoldGroupedDispatch: between Hold and Release an epoch spans calls; a
// grouped Dispatch must still start a fresh group for a key touched by an
// earlier call (it once reused that call's group index).
func TestHoldGroupedDispatch(t *testing.T) {
	l := newMemLoader()
	h := newHost(t, 1000, 2, l)
	batch := func(keys ...string) []msg {
		var msgs []msg
		for i := range 100 {
			msgs = append(msgs, msg{K: keys[i%len(keys)], V: 1})
		}
		return msgs
	}
	h.Hold()
	if err := actor.Dispatch(h, batch("a", "b", "c", "d"), msgKey, apply(l)); err != nil {
		t.Fatal(err)
	}
	if err := actor.Dispatch(h, batch("d"), msgKey, apply(l)); err != nil {
		t.Fatal(err)
	}
	h.Release()
	if got := snapshot(h, []string{"d"})["d"].Sum; got != 125 {
		t.Fatalf("d: Sum %d, want 125", got)
	}
}
