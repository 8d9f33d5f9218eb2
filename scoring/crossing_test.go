package scoring

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/cel-go/common/operators"
)

// randomState applies a random history of events over the last `span` ms
// before now to a fresh state.
func randomState(m *Model, r *rand.Rand, now, span int64) *State {
	s := new(State)
	types := []string{TypePurchase, TypePurchase, TypeRefund, TypeCoupon, TypeCoupon, TypeLogin, TypeView}
	n := 1 + r.IntN(40)
	for i := range n {
		typ := types[r.IntN(len(types))]
		e := Event{ID: fmt.Sprint(i), User: "u", Type: typ, TS: now - r.Int64N(span)}
		if typ == TypePurchase || typ == TypeRefund {
			e.Amount = 1000 * (1 + r.Int64N(30_000))
		}
		m.Apply(s, &e, now, nil)
	}
	return s
}

// nextFlip is checked against sampling: the atom keeps its truth at every
// sampled instant before the flip (all breakpoints, the instants just
// before them, and random instants), and differs at the flip, which is
// either a breakpoint or the millisecond after an instant where it held.
func TestNextFlip(t *testing.T) {
	m, err := NewModel(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 11))
	ops := []string{operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals, operators.Equals, operators.NotEquals}
	const now = int64(1_790_000_000_000)
	const horizon = 3 * 365 * Day
	flips, never := 0, 0
	var buf []int64
	for round := range 400 {
		s := randomState(m, r, now, []int64{Day, 20 * Day, 200 * Day}[round%3])
		for score := range scoreFields {
			// A threshold near the score's value now or at some later instant.
			v := m.scoreAt(s, score, now+r.Int64N(60*Day))
			c := v * (0.5 + r.Float64())
			if r.IntN(4) == 0 {
				c = v
			}
			op := ops[r.IntN(len(ops))]
			if scoreMotions[score] == motionContinuous && (op == operators.Equals || op == operators.NotEquals) {
				op = operators.GreaterEquals // rejected at load for continuous scores
			}
			a := atom{score: score, op: op, c: c}
			at := func(t int64) bool { return holds(op, m.scoreAt(s, score, t), c) }
			was := at(now)
			got := m.nextFlip(s, a, now, buf)
			end := now + horizon
			if got != 0 {
				end = got - 1
				if at(got) == was {
					t.Fatalf("round %d %s %s %v: no flip at %d", round, scoreFields[score], op, c, got)
				}
				flips++
			} else {
				never++
			}
			samples := []int64{end}
			for _, b := range m.breakpoints(s, score, now, nil) {
				samples = append(samples, b-1, b)
			}
			for range 300 {
				samples = append(samples, now+1+r.Int64N(end-now+1))
			}
			for _, x := range samples {
				if x > now && x <= end && at(x) != was {
					t.Fatalf("round %d %s %s %v: flip at %d before the reported %d", round, scoreFields[score], op, c, x, got)
				}
			}
		}
	}
	if flips < 500 || never < 100 {
		t.Errorf("%d atoms flipped and %d never did: the cases are not varied enough", flips, never)
	}
	t.Logf("%d flips, %d never within the horizon", flips, never)
}
