package scoring

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// loadExample parses a model file of examples/.
func loadExample(name string) (*ModelSpec, error) {
	path := filepath.Join("..", "examples", name)
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseModelFile(path, src)
}

// exampleModel loads an example model file and the Model of its score
// parameters.
func exampleModel(t testing.TB, name string) (*ModelSpec, *Model) {
	t.Helper()
	spec, err := loadExample(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewModel(spec.Params)
	if err != nil {
		t.Fatal(err)
	}
	return spec, m
}

// Every example model file loads.
func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example model files: %v", err)
	}
	for _, f := range files {
		spec, err := loadExample(filepath.Base(f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		t.Logf("%s: %s, %d dimensions", filepath.Base(f), spec.ID(), len(spec.Dimensions))
	}
}

// simMove is one tier change of a simulated user.
type simMove struct {
	dim, to string
	day     float64 // days after the first event
}

// simulate runs events (applied at their ts, in order) through a model
// file's RuleModel, then advances it to `until`, and returns the tier
// changes.
func simulate(t *testing.T, spec *ModelSpec, events []Event, until int64) []simMove {
	t.Helper()
	m, err := NewRuleModel(spec)
	if err != nil {
		t.Fatal(err)
	}
	s := new(State)
	var out []Transition
	for i := range events {
		out = m.Apply(s, &events[i], events[i].TS, out)
	}
	out = m.Advance(s, until, out)
	start := events[0].TS
	var moves []simMove
	for _, tr := range out {
		moves = append(moves, simMove{tr.Dimension, tr.To, float64(tr.At-start) / float64(Day)})
	}
	return moves
}

// The online-education ladder: hysteresis keeps a learner whose spend dips
// under 50 000 a whale until it falls below 45 000; dwell holds
// high_potential for 30 days; purchases leaving the 365-day window move the
// learner down at the exact day boundary, by timer.
func TestExampleEduValue(t *testing.T) {
	spec, err := loadExample("edu-value.hcl")
	if err != nil {
		t.Fatal(err)
	}
	const t0 = int64(1_790_000_000_000) // Fri 2026-09-21 13:33:20 UTC
	ev := func(id string, day float64, typ string, amount int64) Event {
		return Event{ID: id, User: "u", Type: typ, TS: t0 + int64(day*float64(Day)), Amount: amount * 1000}
	}
	events := []Event{
		ev("1", 0, TypePurchase, 12_000),
		ev("2", 10, TypePurchase, 40_000), // 52 000: whale
		ev("3", 20, TypeRefund, 5_000),    // 47 000: still whale (exit below 45 000)
		ev("4", 25, TypeRefund, 3_000),    // 44 000: high_potential
		ev("5", 26, TypeRefund, 38_000),   //  6 000: held in high_potential by its 30-day dwell
	}
	for i := 6; i < 20; i++ { // study almost every other day for four weeks
		events = append(events, ev(fmt.Sprint(i), 26+float64(i-5)*2, "lesson", 0))
	}
	moves := simulate(t, spec, events, t0+800*Day)
	var value []string
	for _, mv := range moves {
		if mv.dim == "value" {
			value = append(value, fmt.Sprintf("%s@%.2f", mv.to, mv.day))
		}
	}
	// Day 55: 30 days after entering high_potential on day 25. The first
	// purchase (day 0, 12 000) leaves the window at the start of the UTC day
	// 365 days after its day, the refunds and second purchase later.
	want := []string{"high_potential@0.00", "whale@10.00", "high_potential@25.00", "long_tail@55.00"}
	if len(value) < len(want) || !slices.Equal(value[:len(want)], want) {
		t.Fatalf("value moves %v, want %v first", value, want)
	}
	rest := value[len(want):]
	if len(rest) == 0 || rest[len(rest)-1][:len("prospect")] != "prospect" {
		t.Errorf("after the window: %v, want the learner back to prospect", rest)
	}
	var engagement []string
	for _, mv := range moves {
		if mv.dim == "engagement" {
			engagement = append(engagement, mv.to)
		}
	}
	if !slices.Contains(engagement, "studious") || engagement[len(engagement)-1] != "dormant" {
		t.Errorf("engagement moves %v: want studious while studying, dormant at the end", engagement)
	}
	t.Logf("value %v; engagement %v", value, engagement)
}

// Coupon abuse: a burst of coupons blocks the user for at least a week,
// and clearing needs the risk to fall below 40; a tag puts a user in review
// on its own.
func TestExampleCouponAbuse(t *testing.T) {
	spec, err := loadExample("coupon-abuse.hcl")
	if err != nil {
		t.Fatal(err)
	}
	const t0 = int64(1_790_000_000_000)
	var events []Event
	for i := range 12 { // 12 coupons in 12 minutes
		events = append(events, Event{ID: fmt.Sprint(i), User: "u", Type: TypeCoupon, TS: t0 + int64(i)*minute})
	}
	events = append(events, Event{ID: "late", User: "u", Type: TypeLogin, TS: t0 + 3*Day})
	moves := simulate(t, spec, events, t0+30*Day)
	var got []string
	for _, mv := range moves {
		got = append(got, fmt.Sprintf("%s@%.3f", mv.to, mv.day))
	}
	// z = −6 + 1.0·coupons + 0.2·peak (one event a minute): the 7th coupon
	// (minute 6, day 0.004) passes 60, review; the 8th (minute 7, day 0.005)
	// passes 90, blocked; blocked holds for its 7-day dwell, when the coupons
	// have long left their 24 hours and the risk is under 40: normal.
	want := []string{"normal@0.000", "review@0.004", "blocked@0.005", "normal@7.005"}
	if !slices.Equal(got, want) {
		t.Errorf("moves %v, want %v", got, want)
	}
	// Tags come from events in a later step; the rule reads them already.
	p := newPlacer(&spec.Dimensions[0])
	if tier := p.place(Placement{Tier: NoTier, Previous: NoTier}, t0, &RuleInput{Tags: []string{"coupon_farmer"}}); p.dim.Tiers[tier].Name != "review" {
		t.Errorf("a tagged user: %s, want review", p.dim.Tiers[tier].Name)
	}
	t.Logf("%v", got)
}

// benchPlacement measures placing one user in every dimension of a model
// (what each applied event costs in rule evaluation) and, separately, the
// next due instant of every dimension (what setting the user's timer costs).
func benchPlacement(b *testing.B, spec *ModelSpec) {
	m, err := NewModel(spec.Params)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	const now = int64(1_790_000_000_000)
	s := randomState(m, r, now, 60*Day)
	var placers []*placer
	var curs []Placement
	var in RuleInput
	m.ruleInputAt(s, now, &in)
	for i := range spec.Dimensions {
		p := newPlacer(&spec.Dimensions[i])
		placers = append(placers, p)
		curs = append(curs, Placement{Tier: p.place(Placement{Tier: NoTier, Previous: NoTier}, now, &in), Since: now - Day, Previous: NoTier})
	}
	b.Run("place", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.ruleInputAt(s, now, &in)
			for i, p := range placers {
				_ = p.place(curs[i], now, &in)
			}
		}
	})
	b.Run("due", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i, p := range placers {
				_ = m.dimensionDue(s, p, curs[i], RuleInput{}, now)
			}
		}
	})
}

func BenchmarkDefaultModelFile(b *testing.B) {
	spec, err := loadExample("default.hcl")
	if err != nil {
		b.Fatal(err)
	}
	benchPlacement(b, spec)
}

// BenchmarkDueRules: the test model of TestDimensionDue (churn_risk,
// activity, idle and age time, a rule adding scores, dwell, moves).
func BenchmarkDueRules(b *testing.B) {
	spec, err := ParseModelFile("due.hcl", []byte(dueModel))
	if err != nil {
		b.Fatal(err)
	}
	benchPlacement(b, spec)
}

// BenchmarkThirtyRules: three dimensions of ten tiers, each tier's rule two
// or three comparisons (30 rules), thresholds spread so users sit in the
// middle of each ladder.
func BenchmarkThirtyRules(b *testing.B) {
	benchPlacement(b, thirtyRules(b))
}

// thirtyRules is the model of BenchmarkThirtyRules.
func thirtyRules(tb testing.TB) *ModelSpec {
	tb.Helper()
	var sb strings.Builder
	sb.WriteString("model \"thirty\" {\n  version = 1\n")
	for d, score := range []string{"monetary_365d", "activity", "fraud_risk"} {
		fmt.Fprintf(&sb, "  dimension \"d%d\" {\n", d)
		for i := range 9 {
			fmt.Fprintf(&sb, "    tier \"t%d\" { when = \"scores.%s >= %d && scores.active_days_30 >= %d || scores.purchases_90d > %d\" }\n",
				i, score, (9-i)*[]int{5000, 2, 10}[d], 9-i, 40-i)
		}
		sb.WriteString("    tier \"rest\" { when = \"true\" }\n  }\n")
	}
	sb.WriteString("}\n")
	spec, err := ParseModelFile("thirty.hcl", []byte(sb.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return spec
}

// Membership: points from spend, referrals and tasks climb the ladder, a
// refund does not take a level away (moves only go up), and an enterprise
// plan is gold at once.
func TestExampleMembership(t *testing.T) {
	spec, err := loadExample("membership.hcl")
	if err != nil {
		t.Fatal(err)
	}
	const t0 = int64(1_790_000_000_000)
	ev := func(id string, day float64, typ string, amount int64, props string) Event {
		e := Event{ID: id, User: "u", Type: typ, TS: t0 + int64(day*float64(Day)), Amount: amount * 1000}
		if props != "" {
			e.Props = []byte(props)
		}
		return e
	}
	events := []Event{
		ev("1", 0, TypePurchase, 50_000, ""),  // 500 points: regular
		ev("2", 1, TypeReferral, 0, ""),       // 1 000: bronze
		ev("3", 2, TypeTask, 0, ""),           // 1 100
		ev("4", 3, TypeRefund, 20_000, ""),    //   900: stays bronze (no way down)
		ev("5", 4, TypePurchase, 420_000, ""), // 5 100: silver
		ev("6", 5, TypeProfile, 0, `{"plan":"enterprise"}`),
	}
	moves := simulate(t, spec, events, t0+400*Day)
	var got []string
	for _, mv := range moves {
		got = append(got, fmt.Sprintf("%s@%g", mv.to, mv.day))
	}
	want := []string{"regular@0", "bronze@1", "silver@4", "gold@5"}
	if !slices.Equal(got, want) {
		t.Errorf("moves %v, want %v", got, want)
	}
	m, err := NewRuleModel(spec)
	if err != nil {
		t.Fatal(err)
	}
	s := new(State)
	for i := range events[:5] {
		m.Apply(s, &events[i], events[i].TS, nil)
	}
	if p := s.Counters()["points"]; p < 5099.999 || p > 5100.001 {
		t.Errorf("points %v, want 5100", p)
	}
}

// RFM segments under fixed population edges: each classic profile lands in
// its segment, and a user who never purchased is a prospect.
func TestExampleRFMSegments(t *testing.T) {
	spec, err := loadExample("rfm-segments.hcl")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewRuleModel(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !m.ReadsRFM() {
		t.Fatal("rfm-segments.hcl does not read rfm")
	}
	const t0 = int64(1_790_000_000_000)
	today := float64(t0 / Day)
	m.SetRFM(RFMEdges{
		Recency:   [4]float64{today - 200, today - 90, today - 30, today - 7},
		Frequency: [4]float64{1, 2, 4, 8},
		Monetary:  [4]float64{50, 200, 1000, 5000},
		Buyers:    1000,
	})
	type buy struct {
		daysAgo int64
		amount  int64
	}
	user := func(buys ...buy) string {
		s := new(State)
		var out []Transition
		for i, b := range buys {
			e := Event{ID: fmt.Sprint(i), User: "u", Type: TypePurchase, TS: t0 - b.daysAgo*Day, Amount: b.amount * 1000}
			out = m.Apply(s, &e, t0, out)
		}
		if len(buys) == 0 {
			e := Event{ID: "v", User: "u", Type: TypeView, TS: t0}
			out = m.Apply(s, &e, t0, out)
		}
		return out[len(out)-1].To
	}
	many := func(n int, daysAgo, amount int64) []buy {
		var bs []buy
		for i := range n {
			bs = append(bs, buy{daysAgo + int64(i), amount})
		}
		return bs
	}
	for _, tc := range []struct {
		name string
		buys []buy
		want string
	}{
		{"never bought", nil, "prospect"},
		{"ten recent big orders", many(10, 1, 1000), "champions"},
		{"ten big orders long ago", many(10, 250, 1000), "cant_lose"},
		{"one order yesterday", many(1, 1, 20), "new_customers"},
		{"three orders last week", many(3, 2, 30), "potential_loyalist"},
		{"one small order ten months ago", many(1, 300, 10), "lost"},
	} {
		if got := user(tc.buys...); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
