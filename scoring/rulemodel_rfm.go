package scoring

import (
	"sync/atomic"

	"github.com/google/cel-go/common/ast"
)

// A rule model's inputs besides the scores: the user's attributes, tags and
// RFM scores under the population edges the cluster replicates (SetRFM).

// rfmEdges holds the edges a RuleModel scores RFM with (nil: none yet).
type rfmEdges struct{ p atomic.Pointer[RFMEdges] }

// SetRFM sets the population edges the model's RFM scores use. The caller
// (one shard's state machine, between applies) replicates them: every
// replica sets the same edges at the same log index.
func (m *RuleModel) SetRFM(e RFMEdges) { m.rfm.p.Store(&e) }

// RFMEdges returns the edges the model scores RFM with.
func (m *RuleModel) RFMEdges() RFMEdges {
	if e := m.rfm.p.Load(); e != nil {
		return *e
	}
	return RFMEdges{}
}

// ReadsRFM reports whether any rule of the model reads rfm: only then do
// new edges re-evaluate users.
func (m *RuleModel) ReadsRFM() bool { return m.readsRFM }

// userInput is what the rules read of s besides scores and tier.
func (m *RuleModel) userInput(s *State) RuleInput {
	var in RuleInput
	in.Attrs, in.Tags = s.ruleAttrs()
	in.Counters = s.ruleCounters()
	if m.readsRFM {
		in.RFM = m.rfm.p.Load().Scores(s)
	}
	return in
}

// Reevaluate advances s to now (firing what is due) and then places the
// user again at now, appending the transitions with cause: what changes when
// the RFM edges move.
func (m *RuleModel) Reevaluate(s *State, now int64, cause string, out []Transition) []Transition {
	sc := m.scratch.Get().(*ruleScratch)
	out = m.advance(s, sc, now, out)
	out = m.place(s, sc, s.evalAt, cause, out)
	s.due, s.dueOK = m.computeDue(s, sc), true
	m.scratch.Put(sc)
	return out
}

// specReadsRFM reports whether any rule of spec names the rfm variable.
func specReadsRFM(spec *ModelSpec) bool {
	for _, d := range spec.Dimensions {
		for _, t := range d.Tiers {
			for _, r := range []*Rule{t.When, t.Exit} {
				if r != nil && ruleReadsRFM(r) {
					return true
				}
			}
		}
	}
	return false
}

func ruleReadsRFM(r *Rule) bool {
	if r.ast == nil {
		return false
	}
	return len(ast.MatchDescendants(ast.NavigateAST(r.ast.NativeRep()), func(n ast.NavigableExpr) bool {
		return n.Kind() == ast.IdentKind && n.AsIdent() == "rfm"
	})) > 0
}
