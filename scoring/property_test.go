package scoring

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

var propTypes = []string{"login", "view", "purchase", "refund", "coupon", "coupon", "referral", "support", "level_up", "task"}

// step is one call on a state: an event (e != nil) or an Advance.
type step struct {
	e   *Event
	now int64
}

// randomSteps returns a random but realistic call sequence: time moves
// forward in jumps from seconds to weeks, events may be up to 400 days old
// or a few minutes in the future, some calls are bare Advances.
func randomSteps(r *rand.Rand, n int) []step {
	now := t0 + r.Int64N(400*Day)
	steps := make([]step, 0, n)
	for i := range n {
		switch r.IntN(4) {
		case 0:
			now += r.Int64N(minute)
		case 1:
			now += r.Int64N(hour)
		case 2:
			now += r.Int64N(3 * Day)
		default:
			now += r.Int64N(20 * Day)
		}
		if r.IntN(6) == 0 {
			steps = append(steps, step{now: now})
			continue
		}
		ts := now
		switch r.IntN(5) {
		case 0:
			ts -= r.Int64N(400 * Day)
		case 1:
			ts -= r.Int64N(2 * Day)
		case 2:
			ts += r.Int64N(5 * minute)
		}
		typ := propTypes[r.IntN(len(propTypes))]
		var amount int64
		if typ == "purchase" || typ == "refund" {
			amount = r.Int64N(30_000_000)
		}
		steps = append(steps, step{e: &Event{ID: fmt.Sprint("e", i), User: "u", Type: typ, TS: ts, Amount: amount}, now: now})
	}
	return steps
}

func run(m *Model, s *State, st step, out []Transition) []Transition {
	if st.e != nil {
		return m.Apply(s, st.e, st.now, out)
	}
	return m.Advance(s, st.now, out)
}

func encode(t testing.TB, s *State) []byte {
	t.Helper()
	b, err := s.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The same calls on two fresh states give byte-identical encodings and
// identical transitions; a state decoded from its encoding re-encodes to the
// same bytes and continues exactly like the original.
func TestPropertyDeterminism(t *testing.T) {
	m := newModel(t)
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 2026))
		steps := randomSteps(r, 300)
		var a, b State
		for i, st := range steps {
			ta := run(m, &a, st, nil)
			tb := run(m, &b, st, nil)
			if !reflect.DeepEqual(ta, tb) {
				t.Fatalf("seed %d step %d: transitions differ", seed, i)
			}
			ea, eb := encode(t, &a), encode(t, &b)
			if !bytes.Equal(ea, eb) {
				t.Fatalf("seed %d step %d: encodings differ", seed, i)
			}
			var c State
			if err := c.UnmarshalBinary(ea); err != nil {
				t.Fatalf("seed %d step %d: %v", seed, i, err)
			}
			if ec := encode(t, &c); !bytes.Equal(ec, ea) {
				t.Fatalf("seed %d step %d: re-encoding differs", seed, i)
			}
			if m.NextDue(&c) != m.NextDue(&a) {
				t.Fatalf("seed %d step %d: NextDue %d after decode, %d before", seed, i, m.NextDue(&c), m.NextDue(&a))
			}
			if i+1 < len(steps) {
				next := steps[i+1]
				var ca State
				_ = ca.UnmarshalBinary(ea)
				tc := run(m, &c, next, nil)
				ta2 := run(m, &ca, next, nil)
				if !reflect.DeepEqual(tc, ta2) || !bytes.Equal(encode(t, &c), encode(t, &ca)) {
					t.Fatalf("seed %d step %d: decoded state diverges", seed, i)
				}
			}
		}
	}
}

// Transitions form a clean chain per dimension, the stored tiers always equal
// a fresh evaluation, and NextDue is exact: no tier changes before it, and
// one does at it.
func TestPropertyTimersExact(t *testing.T) {
	m := newModel(t)
	kinds := map[bool]int{}
	reached := map[string]bool{}
	defer func() {
		if kinds[true] == 0 || kinds[false] == 0 || len(reached) < 10 {
			t.Errorf("weak coverage: %v transitions (timer: true), tiers reached %v", kinds, reached)
		}
		t.Logf("transitions %v, tiers reached %d", kinds, len(reached))
	}()
	for seed := range uint64(100) {
		r := rand.New(rand.NewPCG(seed, 7))
		var s State
		var last [numDims]Transition
		for i, st := range randomSteps(r, 200) {
			before := s.evalAt
			out := run(m, &s, st, nil)
			for _, tr := range out {
				d := dimIndex(tr.Dimension)
				if tr.Seq != last[d].Seq+1 || tr.From != last[d].To || tr.From == tr.To {
					t.Fatalf("seed %d step %d: %+v after %+v", seed, i, tr, last[d])
				}
				byEvent := st.e != nil && tr.Cause == st.e.ID
				if tr.At <= before || tr.At > s.evalAt || byEvent && tr.At != s.evalAt || !byEvent && tr.Cause != CauseTimer {
					if !(tr.At == before && byEvent) { // an event at an unchanged evaluation time
						t.Fatalf("seed %d step %d: bad At/Cause %+v (evalAt %d → %d)", seed, i, tr, before, s.evalAt)
					}
				}
				kinds[tr.Cause == CauseTimer]++
				reached[tr.Dimension+">"+tr.To] = true
				last[d] = tr
			}
			if got := m.evaluate(&s, s.evalAt); got != s.tier {
				t.Fatalf("seed %d step %d: stored tiers %v, evaluation %v", seed, i, s.tier, got)
			}
			due := m.NextDue(&s)
			if due == 0 {
				for _, dt := range []int64{minute, hour, Day, 30 * Day, 400 * Day} {
					if got := m.evaluate(&s, s.evalAt+dt); got != s.tier {
						t.Fatalf("seed %d step %d: NextDue 0 but tiers change by +%d: %v→%v", seed, i, dt, s.tier, got)
					}
				}
				continue
			}
			if due <= s.evalAt {
				t.Fatalf("seed %d step %d: NextDue %d not after evalAt %d", seed, i, due, s.evalAt)
			}
			if got := m.evaluate(&s, due); got == s.tier {
				t.Fatalf("seed %d step %d: nothing changes at NextDue", seed, i)
			}
			for range 5 {
				at := s.evalAt + r.Int64N(due-s.evalAt)
				if got := m.evaluate(&s, at); got != s.tier {
					t.Fatalf("seed %d step %d: tiers change at %d before NextDue %d", seed, i, at, due)
				}
			}
		}
	}
}

func dimIndex(name string) int {
	for d, n := range dimNames {
		if n == name {
			return d
		}
	}
	return -1
}

// Reset leaves a state equal to a fresh one (in encoding) and keeps capacity.
func TestReset(t *testing.T) {
	m := newModel(t)
	var s State
	for _, st := range randomSteps(rand.New(rand.NewPCG(1, 1)), 100) {
		run(m, &s, st, nil)
	}
	c := cap(s.money) + cap(s.minutes)
	s.Reset()
	var fresh State
	if !bytes.Equal(encode(t, &s), encode(t, &fresh)) || m.NextDue(&s) != 0 {
		t.Error("Reset state differs from a fresh one")
	}
	if cap(s.money)+cap(s.minutes) != c {
		t.Error("Reset dropped capacity")
	}
}
