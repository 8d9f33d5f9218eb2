package scoring

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Counters are a model file's own lifetime sums over chosen event types —
// points of a membership ladder, say:
//
//	scores {
//	  counters = { points = { purchase = 0.01, refund = -0.01, referral = 500, task = 100 } }
//	}
//
// An event adds its type's weight to each counter that lists the type; for
// purchase and refund events the weight is per unit of the amount. Rules
// read them as counters.<name> (double); they change only with events. A
// counter counts from when its model first evaluates the user: a model that
// starts (or shadows) later than a user's earlier events does not see them.

// Limits of counters.
const (
	MaxCounters    = 16 // counters per model
	maxCounterName = 64 // bytes, [a-z0-9_]
)

// CounterSpec is one counter of a model file.
type CounterSpec struct {
	Name    string
	Weights map[string]float64 // by event type; purchase/refund: per unit of amount
}

// counter is one counter's value in a State.
type counter struct {
	name  string
	value float64
}

// counters checks the counters of a scores block and returns them by name.
func (c *modelChecker) counters(fs *fileScores) []CounterSpec {
	if len(fs.Counters) > MaxCounters {
		c.fail(fs.DefRange, fmt.Sprintf("scores: %d counters, at most %d", len(fs.Counters), MaxCounters))
		return nil
	}
	var out []CounterSpec
	for _, name := range sortedKeys(fs.Counters) {
		w := fs.Counters[name]
		if !validIdent(name, maxCounterName, "_") {
			c.fail(fs.DefRange, fmt.Sprintf("scores: counter name %q: want 1–%d bytes of [a-z0-9_]", name, maxCounterName))
			continue
		}
		if len(w) == 0 {
			c.fail(fs.DefRange, fmt.Sprintf("scores: counter %s counts no event type", name))
			continue
		}
		for _, typ := range sortedKeys(w) {
			if !validName(typ) {
				c.fail(fs.DefRange, fmt.Sprintf("scores: counter %s: event type %q: want [a-z0-9_-]{1,64}", name, typ))
			}
			if x := w[typ]; math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 1e9 {
				c.fail(fs.DefRange, fmt.Sprintf("scores: counter %s: weight of %s is %v, want a finite number of at most 1e9", name, typ, x))
			}
		}
		out = append(out, CounterSpec{Name: name, Weights: w})
	}
	return out
}

// foldCounters adds event e to the model's counters in s.
func (m *RuleModel) foldCounters(s *State, e *Event) {
	for i := range m.spec.Counters {
		cs := &m.spec.Counters[i]
		w, ok := cs.Weights[e.Type]
		if !ok {
			continue
		}
		add := w
		if e.Type == TypePurchase || e.Type == TypeRefund {
			add = w * (float64(max(e.Amount, 0)) / 1000)
		}
		s.addCounter(cs.Name, add)
	}
}

func (s *State) addCounter(name string, add float64) {
	i, found := slices.BinarySearchFunc(s.counters, name, func(c counter, n string) int { return strings.Compare(c.name, n) })
	if !found {
		s.counters = slices.Insert(s.counters, i, counter{name: name})
	}
	v := s.counters[i].value + add
	if math.IsInf(v, 0) || math.IsNaN(v) {
		v = s.counters[i].value // saturate: keep the last finite value
	}
	s.counters[i].value = v
	s.counterMap = nil
}

// Counters returns the user's counter values (a fresh map; nil when none).
func (s *State) Counters() map[string]float64 {
	if len(s.counters) == 0 {
		return nil
	}
	out := make(map[string]float64, len(s.counters))
	for _, c := range s.counters {
		out[c.name] = c.value
	}
	return out
}

// ruleCounters returns the counters as rules read them, cached in s until
// they change (nil when none); callers must not modify the map.
func (s *State) ruleCounters() map[string]float64 {
	if len(s.counters) > 0 && s.counterMap == nil {
		s.counterMap = s.Counters()
	}
	return s.counterMap
}
