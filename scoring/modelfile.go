package scoring

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// ErrInvalidModel is wrapped by every error of ParseModelFile.
var ErrInvalidModel = errors.New("scoring: invalid model")

// ModelSpec is a parsed and checked model file: its dimensions, their ordered
// tiers and the compiled rules. It is immutable after ParseModelFile.
type ModelSpec struct {
	Name        string
	Version     int
	Description string
	// Params are the score parameters: DefaultParams with the file's scores
	// block applied. The tier thresholds among them (ValueLongTail, …) are
	// not used by a model file's dimensions, which have their own rules.
	Params     Params
	Dimensions []DimensionSpec
	// Counters are the model's own event sums (counters.go), by name.
	Counters []CounterSpec
}

// ID returns "name@vVersion", the model identifier carried by transitions.
func (m *ModelSpec) ID() string { return m.Name + "@v" + strconv.Itoa(m.Version) }

// DimensionSpec is one dimension of a model file.
type DimensionSpec struct {
	Name  string
	Tiers []TierSpec
	// Moves lists, per tier, the tiers a user in it may move to; nil: any.
	Moves map[string][]string
}

// TierSpec is one tier of a dimension, in evaluation order.
type TierSpec struct {
	Name     string
	When     *Rule // a user enters (or is placed in) the tier while When holds
	Exit     *Rule // nil: a user leaves as soon as When stops holding
	MinDwell int64 // ms a user stays at least once placed; 0: none
	Reason   string
}

// Model file schema (hclsyntax). Rules keep their attribute so that errors
// in them can point into the file.
type fileModel struct {
	Model []fileModelBlock `hcl:"model,block"`
}

type fileModelBlock struct {
	Name        string          `hcl:"name,label"`
	Version     int             `hcl:"version"`
	Description string          `hcl:"description,optional"`
	Scores      *fileScores     `hcl:"scores,block"`
	Dimensions  []fileDimension `hcl:"dimension,block"`
	DefRange    hcl.Range       `hcl:",def_range"`
}

// fileScores overrides score parameters (Params); absent ones keep their
// defaults.
type fileScores struct {
	Weights         map[string]float64            `hcl:"weights,optional"`
	DefaultWeight   *float64                      `hcl:"default_weight,optional"`
	HalfLife        *string                       `hcl:"half_life,optional"`
	ActiveDaysShort *int                          `hcl:"active_days_short,optional"`
	ActiveDaysLong  *int                          `hcl:"active_days_long,optional"`
	MonetaryDays    *int                          `hcl:"monetary_days,optional"`
	PurchaseDays    *int                          `hcl:"purchase_days,optional"`
	RefundDays      *int                          `hcl:"refund_days,optional"`
	CouponWindow    *string                       `hcl:"coupon_window,optional"`
	CouponKeep      *int                          `hcl:"coupon_keep,optional"`
	BurstMinutes    *int                          `hcl:"burst_minutes,optional"`
	Churn           map[string]float64            `hcl:"churn,optional"`
	Fraud           map[string]float64            `hcl:"fraud,optional"`
	Counters        map[string]map[string]float64 `hcl:"counters,optional"`
	DefRange        hcl.Range                     `hcl:",def_range"`
}

type fileDimension struct {
	Name     string              `hcl:"name,label"`
	Moves    map[string][]string `hcl:"moves,optional"`
	Tiers    []fileTier          `hcl:"tier,block"`
	MovesRng hcl.Range           `hcl:"moves,attr_range"`
	DefRange hcl.Range           `hcl:",def_range"`
}

type fileTier struct {
	Name     string         `hcl:"name,label"`
	When     *hcl.Attribute `hcl:"when"`
	Exit     *hcl.Attribute `hcl:"exit,optional"`
	MinDwell string         `hcl:"min_dwell,optional"`
	DwellRng hcl.Range      `hcl:"min_dwell,attr_value_range"`
	Reason   string         `hcl:"reason,optional"`
	DefRange hcl.Range      `hcl:",def_range"`
}

// ParseModelFile parses and checks a model file (HCL native syntax). It
// compiles every rule; a model with any error is rejected as a whole, and
// the error lists every problem found as file:line:column: reason.
func ParseModelFile(filename string, src []byte) (*ModelSpec, error) {
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	var fm fileModel
	if diags := gohcl.DecodeBody(file.Body, nil, &fm); diags.HasErrors() {
		return nil, diagError(diags)
	}
	c := modelChecker{file: filename, src: src}
	if len(fm.Model) != 1 {
		c.fail(hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos},
			fmt.Sprintf("a model file holds exactly one model block, found %d", len(fm.Model)))
		return nil, c.err()
	}
	spec := c.model(&fm.Model[0])
	if err := c.err(); err != nil {
		return nil, err
	}
	return spec, nil
}

// modelChecker collects every problem of a model file.
type modelChecker struct {
	file  string
	src   []byte
	diags hcl.Diagnostics
	env   *ruleEnv
}

func (c *modelChecker) fail(rng hcl.Range, msg string) {
	r := rng
	c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: msg, Subject: &r})
}

func (c *modelChecker) err() error {
	if !c.diags.HasErrors() {
		return nil
	}
	return diagError(c.diags)
}

// diagError renders diagnostics one per line as file:line:column: reason,
// sorted by position.
func diagError(diags hcl.Diagnostics) error {
	lines := make([]string, 0, len(diags))
	sorted := append(hcl.Diagnostics(nil), diags...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i].Subject, sorted[j].Subject
		if a == nil || b == nil {
			return b != nil
		}
		return a.Start.Byte < b.Start.Byte
	})
	for _, d := range sorted {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		if d.Subject != nil {
			lines = append(lines, fmt.Sprintf("%s:%d:%d: %s", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, msg))
		} else {
			lines = append(lines, msg)
		}
	}
	return fmt.Errorf("%w:\n%s", ErrInvalidModel, strings.Join(lines, "\n"))
}

// model checks the model block and compiles its rules.
func (c *modelChecker) model(b *fileModelBlock) *ModelSpec {
	spec := &ModelSpec{Name: b.Name, Version: b.Version, Description: b.Description, Params: DefaultParams()}
	if b.Scores != nil {
		c.scores(b.Scores, &spec.Params)
		spec.Counters = c.counters(b.Scores)
	}
	if !validName(b.Name) {
		c.fail(b.DefRange, fmt.Sprintf("model name %q must match [a-z0-9_-]{1,64}", b.Name))
	}
	if b.Version < 1 {
		c.fail(b.DefRange, fmt.Sprintf("model version %d: want ≥ 1", b.Version))
	}
	if len(b.Dimensions) == 0 {
		c.fail(b.DefRange, "a model needs at least one dimension")
	}
	env, err := newRuleEnv()
	if err != nil { // the environment is fixed: only a bug gets here
		c.fail(b.DefRange, err.Error())
		return nil
	}
	c.env = env
	dims := map[string]bool{}
	for i := range b.Dimensions {
		fd := &b.Dimensions[i]
		if dims[fd.Name] {
			c.fail(fd.DefRange, fmt.Sprintf("dimension %q declared twice", fd.Name))
		}
		dims[fd.Name] = true
		spec.Dimensions = append(spec.Dimensions, c.dimension(fd))
	}
	return spec
}

// scores applies a scores block to p and validates the result.
func (c *modelChecker) scores(fs *fileScores, p *Params) {
	if fs.Weights != nil {
		p.Weights = fs.Weights
	}
	setF := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	setI := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	setD := func(dst *time.Duration, v *string, name string) {
		if v == nil {
			return
		}
		ms, err := ParseDays(*v)
		if err != nil || ms <= 0 {
			c.fail(fs.DefRange, fmt.Sprintf("scores: %s %q: want a positive duration such as \"7d\" or \"24h\"", name, *v))
			return
		}
		*dst = time.Duration(ms) * time.Millisecond
	}
	setF(&p.DefaultWeight, fs.DefaultWeight)
	setD(&p.HalfLife, fs.HalfLife, "half_life")
	setI(&p.ActiveDaysShort, fs.ActiveDaysShort)
	setI(&p.ActiveDaysLong, fs.ActiveDaysLong)
	setI(&p.MonetaryDays, fs.MonetaryDays)
	setI(&p.PurchaseDays, fs.PurchaseDays)
	setI(&p.RefundDays, fs.RefundDays)
	setD(&p.CouponWindow, fs.CouponWindow, "coupon_window")
	setI(&p.CouponKeep, fs.CouponKeep)
	setI(&p.BurstMinutes, fs.BurstMinutes)
	coefficients := func(name string, m map[string]float64, dst map[string]*float64) {
		for _, k := range sortedKeys(m) {
			if f, ok := dst[k]; ok {
				*f = m[k]
			} else {
				c.fail(fs.DefRange, fmt.Sprintf("scores: %s has no coefficient %q (it has %s)", name, k, strings.Join(sortedKeys(dst), ", ")))
			}
		}
	}
	coefficients("churn", fs.Churn, map[string]*float64{
		"bias": &p.ChurnBias, "idle": &p.ChurnIdle, "active_30": &p.ChurnActive30, "active_7": &p.ChurnActive7})
	coefficients("fraud", fs.Fraud, map[string]*float64{
		"bias": &p.FraudBias, "coupon": &p.FraudCoupon, "refund_ratio": &p.FraudRefundRatio, "burst": &p.FraudBurst})
	if err := p.Validate(); err != nil {
		for _, e := range strings.Split(err.Error(), "\n") {
			c.fail(fs.DefRange, "scores: "+strings.TrimPrefix(e, ErrInvalidParams.Error()+": "))
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (c *modelChecker) dimension(fd *fileDimension) DimensionSpec {
	d := DimensionSpec{Name: fd.Name}
	if !validName(fd.Name) {
		c.fail(fd.DefRange, fmt.Sprintf("dimension name %q must match [a-z0-9_-]{1,64}", fd.Name))
	}
	if len(fd.Tiers) == 0 {
		c.fail(fd.DefRange, fmt.Sprintf("dimension %q has no tiers", fd.Name))
	}
	tiers := map[string]bool{}
	for i := range fd.Tiers {
		ft := &fd.Tiers[i]
		if tiers[ft.Name] {
			c.fail(ft.DefRange, fmt.Sprintf("tier %q declared twice in dimension %q", ft.Name, fd.Name))
		}
		tiers[ft.Name] = true
		d.Tiers = append(d.Tiers, c.tier(fd.Name, ft))
	}
	if fd.Moves != nil {
		d.Moves = map[string][]string{}
		for from, tos := range fd.Moves {
			if !tiers[from] {
				c.fail(fd.MovesRng, fmt.Sprintf("moves: %q is not a tier of dimension %q", from, fd.Name))
			}
			for _, to := range tos {
				if !tiers[to] {
					c.fail(fd.MovesRng, fmt.Sprintf("moves: %q → %q: %q is not a tier of dimension %q", from, to, to, fd.Name))
				}
			}
			d.Moves[from] = append([]string(nil), tos...)
		}
	}
	return d
}

func (c *modelChecker) tier(dim string, ft *fileTier) TierSpec {
	t := TierSpec{Name: ft.Name, Reason: ft.Reason}
	if !validName(ft.Name) {
		c.fail(ft.DefRange, fmt.Sprintf("tier name %q must match [a-z0-9_-]{1,64}", ft.Name))
	}
	if t.Reason == "" {
		t.Reason = "rule_" + ft.Name
	}
	t.When = c.rule(ft.When, dim+"."+ft.Name+".when")
	if ft.Exit != nil {
		t.Exit = c.rule(ft.Exit, dim+"."+ft.Name+".exit")
	}
	if ft.MinDwell != "" {
		ms, err := ParseDays(ft.MinDwell)
		if err != nil || ms <= 0 {
			c.fail(ft.DwellRng, fmt.Sprintf("min_dwell %q: want a positive duration such as \"7d\", \"36h\" or \"90m\"", ft.MinDwell))
		}
		t.MinDwell = ms
	}
	return t
}

// validName reports whether s is 1–64 bytes of [a-z0-9_-].
func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !('a' <= ch && ch <= 'z' || '0' <= ch && ch <= '9' || ch == '_' || ch == '-') {
			return false
		}
	}
	return true
}

// ParseDays parses a duration in milliseconds: Go's time.ParseDuration
// syntax plus a "d" unit of 24 h ("7d", "1d12h", "36h", "90m").
func ParseDays(s string) (int64, error) {
	rest, total := s, time.Duration(0)
	if i := strings.IndexByte(rest, 'd'); i > 0 {
		days, err := strconv.ParseUint(rest[:i], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		total = time.Duration(days) * 24 * time.Hour
		rest = rest[i+1:]
		if rest == "" {
			return total.Milliseconds(), nil
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", s, err)
	}
	return (total + d).Milliseconds(), nil
}
