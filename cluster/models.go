package cluster

import (
	"errors"
	"fmt"
	"strings"

	"github.com/strata-io/strata/scoring"
)

// Model is what a shard's state machine needs of a tier model: the built-in
// default (*scoring.Model) and model files (*scoring.RuleModel). Every method
// is deterministic and called on the FSM goroutine only (reads call Scores
// and Dimensions from any goroutine: they must not modify the State).
type Model interface {
	// Name is "name@vN", the model field of published transitions.
	Name() string
	// Dimensions lists the dimensions and their tiers; State.Tier indexes them.
	Dimensions() []scoring.Dimension
	// Apply folds an event in at now and appends the transitions.
	Apply(s *scoring.State, e *scoring.Event, now int64, out []scoring.Transition) []scoring.Transition
	// Advance fires every deadline up to now and appends the transitions.
	Advance(s *scoring.State, now int64, out []scoring.Transition) []scoring.Transition
	// NextDue is the user's next deadline (0: none).
	NextDue(s *scoring.State) int64
	// Scores are the user's scores at now.
	Scores(s *scoring.State, now int64) scoring.Scores
	// Rebase places the user afresh (a user moved to this model), appending
	// a transition per dimension whose tier differs from from[d].
	Rebase(s *scoring.State, from []string, seq []uint64, cause string, out []scoring.Transition) []scoring.Transition
	// Adopt takes over a state this model evaluated in shadow, appending a
	// transition per dimension whose tier differs from from[d].
	Adopt(s *scoring.State, from []string, seq []uint64, cause string, out []scoring.Transition) []scoring.Transition
	// Explain says why the user is in each tier (reads: any goroutine).
	Explain(s *scoring.State, now int64) []scoring.DimensionExplain
	// UsesScores lists, per dimension, the scores its rules read.
	UsesScores() map[string][]string
}

var (
	_ Model = (*scoring.Model)(nil)
	_ Model = (*scoring.RuleModel)(nil)
)

// Model modes: what a promotion (or a direct activation) does with the
// users whose tiers differ under the new model.
const (
	// ModeEmit publishes every resulting tier change as a transition
	// (cause "model", model = the new model), at a bounded rate.
	ModeEmit = "emit"
	// ModeRebaseline moves users silently: the next transition of a
	// dimension continues its sequence numbers from the new tier.
	ModeRebaseline = "rebaseline"
)

// CauseModel is the cause of the transitions a model change emits.
const CauseModel = "model"

// maxModelSource bounds a model file (it travels in Raft entries and RPCs).
const maxModelSource = 256 << 10

// ModelSource is a tier model as the cluster replicates it: the text of a
// model file, or nothing for the built-in default model.
type ModelSource struct {
	ID     string `json:"id"`               // name@vN
	File   string `json:"file,omitempty"`   // file name, for error positions
	Source string `json:"source,omitempty"` // HCL model file; "": the built-in default@v1
}

// Builtin reports whether s is the built-in default model.
func (s *ModelSource) Builtin() bool { return s == nil || s.Source == "" }

// ParseModelSource checks a model file and returns its source: every
// problem is reported as file:line:column (scoring.ErrInvalidModel).
func ParseModelSource(file string, src []byte) (*ModelSource, error) {
	if len(src) > maxModelSource {
		return nil, fmt.Errorf("%w: %s is %d bytes, at most %d", scoring.ErrInvalidModel, file, len(src), maxModelSource)
	}
	spec, err := scoring.ParseModelFile(file, src)
	if err != nil {
		return nil, err
	}
	if _, err := scoring.NewRuleModel(spec); err != nil {
		return nil, err
	}
	return &ModelSource{ID: spec.ID(), File: file, Source: string(src)}, nil
}

// compileModel builds the model of a source; builtin is the default model.
func compileModel(src *ModelSource, builtin *scoring.Model) (Model, error) {
	if src.Builtin() {
		return builtin, nil
	}
	spec, err := scoring.ParseModelFile(src.File, []byte(src.Source))
	if err != nil {
		return nil, err
	}
	if spec.ID() != src.ID {
		return nil, fmt.Errorf("%w: source declares %s, not %s", scoring.ErrInvalidModel, spec.ID(), src.ID)
	}
	return scoring.NewRuleModel(spec)
}

// ModelPlan is the cluster's intended tier models, kept in the control
// group: every shard leader carries it into its shard's log, so every
// replica of a shard switches at the same log index. Each model that enters
// (as the active model or as a shadow candidate) gets the next generation;
// a promoted candidate keeps its generation, so the states its shadow built
// become the users' states as they are.
type ModelPlan struct {
	// Generation counts changes of the plan (0: never changed: every shard
	// runs the built-in model at generation 0).
	Generation uint64 `json:"generation"`
	// Active is the model users are tiered by; nil: the built-in default.
	Active    *ModelSource `json:"active,omitempty"`
	ActiveGen uint64       `json:"active_generation"`
	// Mode is how users were moved to Active: emit or rebaseline.
	Mode string `json:"mode,omitempty"`
	// Candidate runs in shadow beside Active (nil: none): it tiers every
	// user but publishes nothing.
	Candidate    *ModelSource `json:"candidate,omitempty"`
	CandidateGen uint64       `json:"candidate_generation,omitempty"`
}

// ActiveID is the active model's name@vN.
func (p ModelPlan) ActiveID() string {
	if p.Active == nil {
		return scoring.ModelName
	}
	return p.Active.ID
}

// Model change actions (external contract: the model endpoints).
const (
	ModelActivate = "activate" // make a model active at once (emit or rebaseline)
	ModelShadow   = "shadow"   // run a candidate in shadow beside the active model
	ModelPromote  = "promote"  // make the shadow candidate active (emit or rebaseline)
	ModelDiscard  = "discard"  // stop the shadow candidate
)

// ModelChange is one requested change of the plan.
type ModelChange struct {
	Action string       `json:"action"`
	Source *ModelSource `json:"source,omitempty"` // activate, shadow
	Mode   string       `json:"mode,omitempty"`   // activate, promote: emit (default) or rebaseline
	// Base, if non-zero, is the plan generation the change was made
	// against: it is refused if the plan changed since.
	Base uint64 `json:"base,omitempty"`
}

// ErrModelConflict is returned for a model change that does not fit the
// current plan (a promote without a candidate, a stale base generation, a
// version that does not move forward).
var ErrModelConflict = errors.New("cluster: model change conflicts with the current plan")

// apply changes p by c or returns why it cannot; p is unchanged on error.
func (p *ModelPlan) apply(c *ModelChange) error {
	if c.Base != 0 && c.Base != p.Generation {
		return fmt.Errorf("%w: made against generation %d, the plan is at %d", ErrModelConflict, c.Base, p.Generation)
	}
	mode := c.Mode
	if mode == "" {
		mode = ModeEmit
	}
	switch c.Action {
	case ModelActivate, ModelShadow:
		if c.Source == nil || c.Source.ID == "" {
			return fmt.Errorf("cluster: model %s without a model", c.Action)
		}
		if err := p.checkNew(c.Source); err != nil {
			return err
		}
	}
	switch c.Action {
	case ModelActivate:
		if mode != ModeEmit && mode != ModeRebaseline {
			return fmt.Errorf("cluster: model mode %q: want %s or %s", c.Mode, ModeEmit, ModeRebaseline)
		}
		p.Generation++
		src := *c.Source
		p.Active, p.ActiveGen, p.Mode = &src, p.Generation, mode
		p.Candidate, p.CandidateGen = nil, 0
	case ModelShadow:
		p.Generation++
		src := *c.Source
		p.Candidate, p.CandidateGen = &src, p.Generation
	case ModelPromote:
		if p.Candidate == nil {
			return fmt.Errorf("%w: no model runs in shadow", ErrModelConflict)
		}
		if mode != ModeEmit && mode != ModeRebaseline {
			return fmt.Errorf("cluster: model mode %q: want %s or %s", c.Mode, ModeEmit, ModeRebaseline)
		}
		p.Generation++
		p.Active, p.ActiveGen, p.Mode = p.Candidate, p.CandidateGen, mode
		p.Candidate, p.CandidateGen = nil, 0
	case ModelDiscard:
		if p.Candidate == nil {
			return fmt.Errorf("%w: no model runs in shadow", ErrModelConflict)
		}
		p.Generation++
		p.Candidate, p.CandidateGen = nil, 0
	default:
		return fmt.Errorf("cluster: unknown model action %q", c.Action)
	}
	return nil
}

// checkNew refuses a model whose name@vN is already in use with another
// text, or that would take a model back to an older version: a version
// identifies one text, so transitions marked with it mean one thing.
func (p *ModelPlan) checkNew(src *ModelSource) error {
	for _, cur := range []*ModelSource{p.Active, p.Candidate} {
		if cur == nil {
			continue
		}
		if cur.ID == src.ID {
			return fmt.Errorf("%w: %s is already %s; give the new text a new version", ErrModelConflict, src.ID, p.role(cur))
		}
		name, v := SplitModelID(cur.ID)
		name2, v2 := SplitModelID(src.ID)
		if name == name2 && v2 < v {
			return fmt.Errorf("%w: %s is older than %s", ErrModelConflict, src.ID, cur.ID)
		}
	}
	if src.ID == scoring.ModelName {
		return fmt.Errorf("%w: %s is the built-in model's name", ErrModelConflict, src.ID)
	}
	return nil
}

func (p *ModelPlan) role(s *ModelSource) string {
	if s == p.Active {
		return "the active model"
	}
	return "the shadow candidate"
}

// SplitModelID splits "name@vN"; v is 0 when the ID has no version.
func SplitModelID(id string) (name string, v int) {
	i := strings.LastIndex(id, "@v")
	if i < 0 {
		return id, 0
	}
	if _, err := fmt.Sscanf(id[i+2:], "%d", &v); err != nil {
		return id, 0
	}
	return id[:i], v
}

func (p *ModelPlan) clone() ModelPlan {
	c := *p
	if p.Active != nil {
		a := *p.Active
		c.Active = &a
	}
	if p.Candidate != nil {
		a := *p.Candidate
		c.Candidate = &a
	}
	return c
}
