package actor_test

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/strata-io/strata/actor"
)

type reminder struct {
	key string
	due int64
}

// memReminders is an in-memory ReminderStore; Due iterates a copy so handlers
// may re-arm while it runs.
type memReminders struct{ r []reminder }

var _ actor.ReminderStore = (*memReminders)(nil)

func (m *memReminders) set(key string, due int64) {
	m.r = slices.DeleteFunc(m.r, func(r reminder) bool { return r.key == key })
	if due > 0 {
		m.r = append(m.r, reminder{key, due})
	}
	slices.SortFunc(m.r, func(a, b reminder) int { return cmp.Or(cmp.Compare(a.due, b.due), strings.Compare(a.key, b.key)) })
}

func (m *memReminders) Due(upTo int64, fn func(string, int64) error) error {
	for _, r := range slices.Clone(m.r) {
		if r.due > upTo {
			break
		}
		if err := fn(r.key, r.due); err != nil {
			return err
		}
	}
	return nil
}

func TestFireDue(t *testing.T) {
	l := newMemLoader()
	l.state["c"] = counter{Sum: 100}
	h := newHost(t, 2, 1, l)
	store := &memReminders{}
	store.set("a", 30)
	store.set("b", 10)
	store.set("c", 30)
	store.set("d", 20)
	store.set("e", 99)

	var fired []string
	handle := func(key string, s *counter, due int64) error {
		fired = append(fired, fmt.Sprint(key, "@", due))
		s.Sum++
		l.save(key, s)
		store.set(key, 0) // clear
		if key == "b" {
			store.set(key, 40) // re-arm
		}
		return nil
	}
	if err := actor.FireDue(h, store, 30, handle); err != nil {
		t.Fatal(err)
	}
	if want := []string{"b@10", "d@20", "a@30", "c@30"}; !slices.Equal(fired, want) {
		t.Fatalf("fired %v, want %v (by due, then key)", fired, want)
	}
	if l.state["c"].Sum != 101 {
		t.Fatalf("c = %d, want 101 (activated from the loader)", l.state["c"].Sum)
	}
	if h.Len() != 2 {
		t.Fatalf("Len() = %d, want Capacity 2 after the call", h.Len())
	}
	fired = nil
	if err := actor.FireDue(h, store, 50, handle); err != nil || !slices.Equal(fired, []string{"b@40"}) {
		t.Fatalf("second FireDue: err %v fired %v, want b@40", err, fired)
	}

	// Errors stop the run and passivate the key.
	store.set("x", 60)
	store.set("y", 61)
	fired = nil
	err := actor.FireDue(h, store, 100, func(key string, s *counter, due int64) error {
		fired = append(fired, key)
		if key == "x" {
			return errHandle
		}
		return nil
	})
	if !errors.Is(err, errHandle) || !slices.Equal(fired, []string{"b", "x"}) || h.Peek("x", func(*counter) {}) {
		t.Fatalf("err %v fired %v resident(x) %v: want errHandle, [b x], false", err, fired, h.Peek("x", func(*counter) {}))
	}
	l.fail["x"] = errors.New("gone")
	if err := actor.FireDue(h, store, 100, handle); err == nil || !strings.Contains(err.Error(), `load "x"`) {
		t.Fatalf("FireDue() = %v, want the load error", err)
	}
}
