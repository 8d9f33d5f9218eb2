package actor_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/strata-io/strata/actor"
)

// counter is the test actor state: the values it has seen, in order.
type counter struct {
	Sum int
	Log []int
}

func newCounter() *counter { return &counter{} }

func resetCounter(s *counter) { s.Sum = 0; s.Log = s.Log[:0] }

// memLoader is an in-memory Loader. Handlers write through to it with save, so
// a passivated actor reactivates with its latest state.
type memLoader struct {
	mu    sync.Mutex
	state map[string]counter
	fail  map[string]error // Load of these keys fails
	loads map[string]int
}

var _ actor.Loader[counter] = (*memLoader)(nil)

func newMemLoader() *memLoader {
	return &memLoader{state: map[string]counter{}, fail: map[string]error{}, loads: map[string]int{}}
}

func (l *memLoader) Load(key string, s *counter) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loads[key]++
	if err := l.fail[key]; err != nil {
		return false, err
	}
	c, ok := l.state[key]
	if !ok {
		return false, nil
	}
	s.Sum = c.Sum
	s.Log = append(s.Log, c.Log...)
	return true, nil
}

func (l *memLoader) save(key string, s *counter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state[key] = counter{Sum: s.Sum, Log: slices.Clone(s.Log)}
}

func (l *memLoader) loadCount(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loads[key]
}

// msg is the test message: add V to key K; Fail makes the handler fail.
type msg struct {
	K    string
	V    int
	Fail bool
}

func msgKey(m *msg) string { return m.K }

var errHandle = errors.New("test: handler failed")

// apply is a deterministic handler that writes through to l (if not nil).
func apply(l *memLoader) func(key string, s *counter, m *msg) error {
	return func(key string, s *counter, m *msg) error {
		if m.K != key {
			return fmt.Errorf("handler got key %q for message of %q", key, m.K)
		}
		s.Sum += m.V
		s.Log = append(s.Log, m.V)
		if m.Fail {
			return fmt.Errorf("message %d of %q: %w", m.V, key, errHandle)
		}
		if l != nil {
			l.save(key, s)
		}
		return nil
	}
}

func newHost(tb interface{ Fatal(...any) }, capacity, workers int, l actor.Loader[counter]) *actor.Host[counter] {
	cfg := actor.DefaultConfig()
	cfg.Capacity, cfg.Workers = capacity, workers
	h, err := actor.NewHost[counter](cfg, l, newCounter, resetCounter)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// snapshot returns the resident state of every key in keys (absent keys omitted).
func snapshot(h *actor.Host[counter], keys []string) map[string]counter {
	out := map[string]counter{}
	for _, k := range keys {
		h.Peek(k, func(s *counter) { out[k] = counter{Sum: s.Sum, Log: slices.Clone(s.Log)} })
	}
	return out
}
