package scoring

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// t0 is 2026-01-01T00:00:00Z, the start of UTC day 20454.
const (
	t0   int64 = 1_767_225_600_000
	hour int64 = 3_600_000
)

func newModel(t testing.TB) *Model {
	t.Helper()
	m, err := NewModel(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ev(id, typ string, ts, amount int64) *Event {
	return &Event{ID: id, User: "u", Type: typ, TS: ts, Amount: amount}
}

func sig(z float64) float64 { return 100 / (1 + math.Exp(-z)) }

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// trs renders transitions compactly: "dim:from>to@offset(reason,cause)".
func trs(out []Transition) string {
	var b strings.Builder
	for i, tr := range out {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s:%s>%s#%d@%s(%s,%s)", tr.Dimension, tr.From, tr.To, tr.Seq, off(tr.At), tr.Reason, tr.Cause)
	}
	return b.String()
}

// off renders an instant relative to t0 as "3d", "3d4h", "1d0h1m"….
func off(t int64) string {
	d := t - t0
	s := fmt.Sprintf("%dd", d/Day)
	if r := d % Day; r != 0 {
		s += fmt.Sprintf("%dh", r/hour)
		if r%hour != 0 {
			s += fmt.Sprintf("%dm", r%hour/minute)
		}
	}
	return s
}

func only(out []Transition, dim string) []Transition {
	var r []Transition
	for _, tr := range out {
		if tr.Dimension == dim {
			r = append(r, tr)
		}
	}
	return r
}

func TestT0(t *testing.T) {
	if got := daysFromCivil(2026, 1, 1) * Day; got != t0 {
		t.Fatalf("t0 = %d, want %d", t0, got)
	}
}

func TestModelBasics(t *testing.T) {
	m := newModel(t)
	if m.Name() != "default@v1" {
		t.Errorf("Name = %q", m.Name())
	}
	want := []Dimension{
		{"lifecycle", []string{"new", "active", "silent", "churned", "reactivated"}},
		{"value", []string{"none", "long_tail", "high_potential", "whale"}},
		{"risk", []string{"normal", "watch", "high"}},
	}
	if got := m.Dimensions(); !reflect.DeepEqual(got, want) {
		t.Errorf("Dimensions = %v", got)
	}
	m.Dimensions()[0].Tiers[0] = "mutated"
	if m.Dimensions()[0].Tiers[0] != "new" {
		t.Error("Dimensions shares its slices")
	}
}

func TestWeights(t *testing.T) {
	m := newModel(t)
	for typ, w := range map[string]float64{
		"purchase": 3, "referral": 2, "signup": 1, "login": 1, "task": 1, "interaction": 0.5, "coupon": 0.5,
		"view": 0.2, "refund": 0, "support": 0, "profile": 0, "level_up": 0.2,
	} {
		if got := m.weight(typ); got != w {
			t.Errorf("weight(%s) = %v, want %v", typ, got, w)
		}
	}
}

func TestActivity(t *testing.T) {
	m := newModel(t)
	var s State
	m.Apply(&s, ev("a", "login", t0, 0), t0, nil)
	for _, c := range []struct {
		at   int64
		want float64
	}{
		{t0, 1},             // 1·2^0
		{t0 + 7*Day, 0.5},   // one half-life
		{t0 + 14*Day, 0.25}, // two
	} {
		if got := m.Scores(&s, c.at).Activity; !near(got, c.want) {
			t.Errorf("activity at %s = %v, want %v", off(c.at), got, c.want)
		}
	}
	// A purchase a half-life later: 1·2^-1 + 3 = 3.5; a week after that 1.75.
	m.Apply(&s, ev("b", "purchase", t0+7*Day, 1000), t0+7*Day, nil)
	if got := m.Scores(&s, t0+7*Day).Activity; !near(got, 3.5) {
		t.Errorf("activity = %v, want 3.5", got)
	}
	if got := m.Scores(&s, t0+14*Day).Activity; !near(got, 1.75) {
		t.Errorf("activity = %v, want 1.75", got)
	}
	// An out-of-order view 7 days old adds 0.2·2^-1 = 0.1: 3.6.
	m.Apply(&s, ev("c", "view", t0, 0), t0+7*Day, nil)
	if got := m.Scores(&s, t0+7*Day).Activity; !near(got, 3.6) {
		t.Errorf("activity = %v, want 3.6", got)
	}
	// Weight-0 types add nothing.
	m.Apply(&s, ev("d", "support", t0+7*Day, 0), t0+7*Day, nil)
	if got := m.Scores(&s, t0+7*Day).Activity; !near(got, 3.6) {
		t.Errorf("activity after support = %v, want 3.6", got)
	}
}

func TestActiveDaysAndSeen(t *testing.T) {
	m := newModel(t)
	var s State
	now := t0 + 30*Day + 12*hour // today = day 30 (relative)
	for i, d := range []int64{0, 1, 1, 5, 10, 24, 29} {
		m.Apply(&s, ev(fmt.Sprint("l", i), "login", t0+d*Day+hour, 0), now, nil)
	}
	m.Apply(&s, ev("r", "refund", t0+28*Day, 5), now, nil) // weight 0: not a day
	sc := m.Scores(&s, now)
	// 30-day window: day > 30−30 → {1,5,10,24,29} = 5; day 0 is out.
	// 7-day window: day > 23 → {24,29} = 2.
	if sc.ActiveDays30 != 5 || sc.ActiveDays7 != 2 {
		t.Errorf("active days 30/7 = %d/%d, want 5/2", sc.ActiveDays30, sc.ActiveDays7)
	}
	if s.FirstSeen() != t0+hour || s.LastSeen() != t0+29*Day+hour || s.Events() != 8 {
		t.Errorf("first/last/events = %s/%s/%d", off(s.FirstSeen()), off(s.LastSeen()), s.Events())
	}
	// A day later (day 31): day 1 leaves the 30-day window, day 24 leaves the 7-day one.
	sc = m.Scores(&s, now+Day)
	if sc.ActiveDays30 != 4 || sc.ActiveDays7 != 1 {
		t.Errorf("next day: active days 30/7 = %d/%d, want 4/1", sc.ActiveDays30, sc.ActiveDays7)
	}
	var fresh State
	if fresh.FirstSeen() != 0 || fresh.LastSeen() != 0 {
		t.Error("fresh state has first/last seen")
	}
}

func TestMoneyScores(t *testing.T) {
	m := newModel(t)
	var s State
	now := t0 + 364*Day + 18*hour                                          // today = day 364
	m.Apply(&s, ev("p0", "purchase", t0+hour, 100_000), now, nil)          // day 0: 100
	m.Apply(&s, ev("p1", "purchase", t0+200*Day, 50_500), now, nil)        // day 200: 50.5
	m.Apply(&s, ev("p2", "purchase", t0+300*Day+6*hour, 20_000), now, nil) // day 300: 20
	m.Apply(&s, ev("p3", "purchase", t0+300*Day+7*hour, 1), now, nil)      // day 300: 0.001 (same bucket)
	m.Apply(&s, ev("r0", "refund", t0+290*Day, 30_000), now, nil)          // day 290: −30
	sc := m.Scores(&s, now)
	// 365-day window at day 364: day > −1, all: 100 + 50.5 + 20 + 0.001 − 30 = 140.501
	if sc.Monetary365d != 140.501 {
		t.Errorf("monetary = %v, want 140.501", sc.Monetary365d)
	}
	// 90-day window: day > 274 → purchases on day 300 only: 2
	if sc.Purchases90d != 2 {
		t.Errorf("purchases_90d = %d, want 2", sc.Purchases90d)
	}
	// latest purchase day 300 07:00 → now day 364 18:00: 64 days 11 h = 64.458333…
	if want := 64 + 11.0/24; !near(sc.RecencyDays, want) {
		t.Errorf("recency = %v, want %v", sc.RecencyDays, want)
	}
	// At day 365 00:00 the day-0 bucket leaves: 40.501.
	if got := m.Scores(&s, t0+365*Day).Monetary365d; got != 40.501 {
		t.Errorf("monetary at day 365 = %v, want 40.501", got)
	}
	if got := m.Scores(&s, t0+365*Day-1).Monetary365d; got != 140.501 {
		t.Errorf("monetary 1 ms before day 365 = %v, want 140.501", got)
	}
	var fresh State
	if got := m.Scores(&fresh, now); got.RecencyDays != -1 || got.Monetary365d != 0 {
		t.Errorf("fresh scores %+v", got)
	}
}

func TestChurnRisk(t *testing.T) {
	m := newModel(t)
	var fresh State
	// never seen: every input 0 → 100·σ(−4)
	if got := m.Scores(&fresh, t0).ChurnRisk; !near(got, sig(-4)) || !near(got, 1.7986209962091559) {
		t.Errorf("never seen: churn = %v", got)
	}
	var s State
	m.Apply(&s, ev("a", "login", t0, 0), t0, nil)
	for _, c := range []struct {
		at   int64
		want float64
	}{
		{t0, sig(-4 - 0.10 - 0.20)},                      // idle 0, a30 1, a7 1: σ(−4.3)
		{t0 + 7*Day, sig(-4 + 0.35*7 - 0.10)},            // idle 7, a30 1, a7 0: σ(−1.65) = 16.1109
		{t0 + 30*Day, sig(-4 + 0.35*30)},                 // idle 30, day 0 out of the 30-day window: σ(6.5)
		{t0 + 2*Day + 12*hour, sig(-4 + 0.35*2.5 - 0.3)}, // idle 2.5 days
	} {
		if got := m.Scores(&s, c.at).ChurnRisk; !near(got, c.want) {
			t.Errorf("churn at %s = %v, want %v", off(c.at), got, c.want)
		}
	}
	if got := m.Scores(&s, t0+7*Day).ChurnRisk; math.Abs(got-16.1108949576585) > 1e-9 {
		t.Errorf("churn at 7d = %v, want 16.1108949576585", got)
	}
}

func TestFraudRisk(t *testing.T) {
	m := newModel(t)
	tests := []struct {
		name   string
		events []*Event
		now    int64
		want   float64
	}{
		// one login: peak 1 → σ(−6 + 0.15)
		{"one login", []*Event{ev("a", "login", t0, 0)}, t0, sig(-5.85)},
		// two hours later the minute left the hour: σ(−6)
		{"quiet", []*Event{ev("a", "login", t0, 0)}, t0 + 2*hour, sig(-6)},
		// 10 coupons in one minute: coupons 10, peak 10 → σ(−6 + 8 + 1.5)
		{"coupon burst", coupons(10, 0), t0 + minute - 1, sig(3.5)},
		// 10 coupons one per minute: σ(−6 + 8 + 0.15)
		{"coupon trickle", coupons(10, minute), t0 + 10*minute, sig(2.15)},
		// 40 coupons one per minute: only the newest 32 are kept → σ(−6 + 25.6 + 0.15)
		{"coupons saturate", coupons(40, minute), t0 + 40*minute, sig(19.75)},
		// 25 h later all coupons left the 24 h window and the hour: σ(−6)
		{"coupons expire", coupons(10, minute), t0 + 25*hour, sig(-6)},
		// purchase 100, refund 50 in other minutes: ratio 0.5 → σ(−6 + 2 + 0.15)
		{"refund half", []*Event{ev("p", "purchase", t0, 100_000), ev("r", "refund", t0+minute, 50_000)}, t0 + minute, sig(-3.85)},
		// refund without purchase: ratio 1 → σ(−6 + 4 + 0.15)
		{"refund only", []*Event{ev("r", "refund", t0, 5_000)}, t0, sig(-1.85)},
		// refund 3× the purchases: ratio capped at 1
		{"refund capped", []*Event{ev("p", "purchase", t0, 1_000), ev("r", "refund", t0+minute, 3_000)}, t0 + minute, sig(-1.85)},
		// 20 views in one minute: peak 20 → σ(−6 + 3)
		{"burst", repeat(20, "view", 0), t0 + minute - 1, sig(-3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s State
			for _, e := range tt.events {
				m.Apply(&s, e, max(e.TS, t0), nil)
			}
			if got := m.Scores(&s, tt.now).FraudRisk; !near(got, tt.want) {
				t.Errorf("fraud = %v, want %v", got, tt.want)
			}
		})
	}
}

func coupons(n int, step int64) []*Event { return repeat(n, "coupon", step) }

func repeat(n int, typ string, step int64) []*Event {
	out := make([]*Event, n)
	for i := range out {
		out[i] = ev(fmt.Sprint(typ, i+1), typ, t0+int64(i)*step, 0)
	}
	return out
}

func TestLifecycleTransitions(t *testing.T) {
	m := newModel(t)
	var s State
	check := func(step, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s:\n got  %s\n want %s", step, got, want)
		}
	}
	out := m.Apply(&s, ev("a", "login", t0, 0), t0, nil)
	check("first login", trs(out),
		"lifecycle:>new#1@0d(first_seen_within_7d,a) value:>none#1@0d(monetary_365d_le_0,a) risk:>normal#1@0d(fraud_risk_lt_60,a)")
	out = m.Apply(&s, ev("b", "login", t0+3*Day, 0), t0+3*Day, nil)
	check("second login", trs(out), "")
	if got := m.NextDue(&s); got != t0+7*Day { // first_seen + 7d
		t.Fatalf("NextDue = %s, want 7d", off(got))
	}
	out = m.Advance(&s, t0+8*Day, nil)
	check("new→active by timer", trs(out), "lifecycle:new>active#2@7d(idle_lt_7d,timer)")
	if got := m.NextDue(&s); got != t0+10*Day { // last_seen + 7d
		t.Fatalf("NextDue = %s, want 10d", off(got))
	}
	// Node down for 40 days: both deadlines fire at their exact instants.
	out = m.Advance(&s, t0+43*Day, nil)
	check("catch up", trs(out),
		"lifecycle:active>silent#3@10d(idle_ge_7d,timer) lifecycle:silent>churned#4@33d(idle_ge_30d,timer)")
	if got := m.NextDue(&s); got != 0 {
		t.Fatalf("NextDue of a churned user = %s, want 0", off(got))
	}
	if s.Tier(0) != int(lifeChurned) {
		t.Fatalf("tier %d", s.Tier(0))
	}
	// Comes back: reactivated for 7 days; another login keeps idle < 7d at the end.
	out = m.Apply(&s, ev("c", "login", t0+50*Day, 0), t0+50*Day, nil)
	check("return", trs(out), "lifecycle:churned>reactivated#5@50d(returned_after_churn,c)")
	out = m.Apply(&s, ev("d", "login", t0+53*Day, 0), t0+53*Day, nil)
	check("login while reactivated", trs(out), "")
	if got := m.NextDue(&s); got != t0+57*Day { // reactivated_until
		t.Fatalf("NextDue = %s, want 57d", off(got))
	}
	out = m.Advance(&s, t0+57*Day, nil)
	check("reactivated→active", trs(out), "lifecycle:reactivated>active#6@57d(idle_lt_7d,timer)")
	if sc := out[0].Scores; sc.ActiveDays7 != 1 || sc.ActiveDays30 != 2 { // logins on days 50, 53; today 57
		t.Errorf("scores at the transition: %+v", sc)
	}
}

func TestLifecycleEdges(t *testing.T) {
	m := newModel(t)
	t.Run("old event to a churned user does not reactivate", func(t *testing.T) {
		var s State
		m.Apply(&s, ev("a", "login", t0, 0), t0, nil)
		m.Advance(&s, t0+40*Day, nil)
		// ts 10 days before now: idle 10d → silent, not reactivated.
		out := m.Apply(&s, ev("b", "login", t0+30*Day, 0), t0+40*Day, nil)
		if got := trs(out); got != "lifecycle:churned>silent#4@40d(idle_ge_7d,b)" {
			t.Errorf("got %s", got)
		}
	})
	t.Run("reactivated then silent", func(t *testing.T) {
		var s State
		m.Apply(&s, ev("a", "login", t0, 0), t0, nil)
		m.Advance(&s, t0+40*Day, nil)
		m.Apply(&s, ev("b", "login", t0+40*Day, 0), t0+40*Day, nil)
		// last_seen + 7d equals reactivated_until: silent wins.
		out := m.Advance(&s, t0+60*Day, nil)
		if got := trs(out); got != "lifecycle:reactivated>silent#5@47d(idle_ge_7d,timer)" {
			t.Errorf("got %s", got)
		}
	})
	t.Run("out-of-order old event ends new", func(t *testing.T) {
		var s State
		m.Apply(&s, ev("a", "login", t0+10*Day, 0), t0+10*Day, nil)
		out := m.Apply(&s, ev("b", "view", t0+2*Day, 0), t0+10*Day, nil)
		if got := trs(out); got != "lifecycle:new>active#2@10d(idle_lt_7d,b)" {
			t.Errorf("got %s", got)
		}
		if s.FirstSeen() != t0+2*Day || s.LastSeen() != t0+10*Day {
			t.Errorf("first/last = %s/%s", off(s.FirstSeen()), off(s.LastSeen()))
		}
	})
	t.Run("weight-0 event places value and risk only", func(t *testing.T) {
		var s State
		out := m.Apply(&s, ev("a", "refund", t0, 1000), t0, nil)
		if got := trs(out); got != "value:>none#1@0d(monetary_365d_le_0,a) risk:>normal#1@0d(fraud_risk_lt_60,a)" {
			t.Errorf("got %s", got)
		}
		if s.Tier(0) != 0 || s.Tier(1) != 1 || s.Tier(2) != 1 || s.Tier(3) != 0 || s.Tier(-1) != 0 {
			t.Errorf("tiers %d %d %d", s.Tier(0), s.Tier(1), s.Tier(2))
		}
		if s.FirstSeen() != 0 {
			t.Error("first seen set by a weight-0 event")
		}
		out = m.Apply(&s, ev("b", "support", t0+Day, 0), t0+Day, nil)
		if len(out) != 0 {
			t.Errorf("got %s", trs(out))
		}
	})
	t.Run("future ts is taken as now", func(t *testing.T) {
		var s State
		m.Apply(&s, ev("a", "login", t0+4*minute, 0), t0, nil)
		if s.LastSeen() != t0 {
			t.Errorf("last seen %s", off(s.LastSeen()))
		}
	})
	t.Run("time does not run backwards", func(t *testing.T) {
		var s State
		m.Apply(&s, ev("a", "login", t0, 0), t0+Day, nil)
		out := m.Apply(&s, ev("b", "login", t0, 0), t0, nil) // now < last evaluation
		if len(out) != 0 || s.evalAt != t0+Day {
			t.Errorf("got %s, evalAt %s", trs(out), off(s.evalAt))
		}
		if m.Scores(&s, t0).Activity != m.Scores(&s, t0+Day).Activity {
			t.Error("Scores before the evaluation time is not clamped")
		}
	})
}

func TestValueTransitions(t *testing.T) {
	m := newModel(t)
	var s State
	steps := []struct {
		e    *Event
		now  int64
		want string
	}{
		{ev("p1", "purchase", t0, 5_000_000), t0, "value:>long_tail#1@0d(monetary_365d_lt_10000,p1)"},                              // 5 000
		{ev("p2", "purchase", t0+hour, 6_000_000), t0 + hour, "value:long_tail>high_potential#2@0d1h(monetary_365d_lt_50000,p2)"},  // 11 000
		{ev("p3", "purchase", t0+2*hour, 40_000_000), t0 + 2*hour, "value:high_potential>whale#3@0d2h(monetary_365d_ge_50000,p3)"}, // 51 000
		{ev("r1", "refund", t0+3*hour, 2_000_000), t0 + 3*hour, "value:whale>high_potential#4@0d3h(monetary_365d_lt_50000,r1)"},    // 49 000
		{ev("r2", "refund", t0+4*hour, 49_000_000), t0 + 4*hour, "value:high_potential>none#5@0d4h(monetary_365d_le_0,r2)"},        // 0
	}
	for _, st := range steps {
		out := only(m.Apply(&s, st.e, st.now, nil), "value")
		if got := trs(out); got != st.want {
			t.Errorf("%s: got %s, want %s", st.e.ID, got, st.want)
		}
	}
}

func TestValueAgesOut(t *testing.T) {
	m := newModel(t)
	var s State
	m.Apply(&s, ev("p1", "purchase", t0+23*hour, 60_000_000), t0+23*hour, nil) // day 0: 60 000 → whale
	m.Apply(&s, ev("p2", "purchase", t0+10*Day, 5_000_000), t0+10*Day, nil)    // day 10: 65 000
	// Lifecycle deadlines come first; the value deadline is the day-0 bucket
	// leaving the window at the start of day 365.
	out := only(m.Advance(&s, t0+400*Day, nil), "value")
	want := "value:whale>long_tail#2@365d(monetary_365d_lt_10000,timer) value:long_tail>none#3@375d(monetary_365d_le_0,timer)"
	if got := trs(out); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if out[0].Scores.Monetary365d != 5000 || out[1].Scores.Monetary365d != 0 {
		t.Errorf("scores %+v %+v", out[0].Scores, out[1].Scores)
	}
	if len(s.money) != 0 {
		t.Errorf("money buckets not pruned: %v", s.money)
	}
}

func TestRiskCouponFarming(t *testing.T) {
	m := newModel(t)
	var s State
	var got []string
	// One coupon per minute: coupons k, peak 1 → fraud = σ(−6 + 0.8k + 0.15).
	// k=7: σ(−0.25)=43.8 normal; k=8: σ(0.55)=63.4 watch; k=9: σ(1.35)=79.4 watch; k=10: σ(2.15)=89.6 high.
	for i, e := range coupons(10, minute) {
		out := only(m.Apply(&s, e, e.TS, nil), "risk")
		if len(out) > 0 {
			got = append(got, trs(out))
			if want := sig(-6 + 0.8*float64(i+1) + 0.15); !near(out[0].Scores.FraudRisk, want) {
				t.Errorf("fraud at k=%d: %v, want %v", i+1, out[0].Scores.FraudRisk, want)
			}
		}
	}
	want := []string{
		"risk:>normal#1@0d(fraud_risk_lt_60,coupon1)",
		"risk:normal>watch#2@0d0h7m(fraud_risk_ge_60,coupon8)",
		"risk:watch>high#3@0d0h9m(fraud_risk_ge_85,coupon10)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// The minutes leave the hour (peak 0: σ(2.0) = 88.1, still high); the
	// first coupon leaves 24 h after it: k=9 → σ(1.2) = 76.9 watch; one minute
	// later k=8 → σ(0.4) = 59.87 normal.
	if due := m.NextDue(&s); due != t0+24*hour {
		t.Fatalf("NextDue = %s, want 1d", off(due))
	}
	out := only(m.Advance(&s, t0+2*Day, nil), "risk")
	if got, want := trs(out), "risk:high>watch#4@1d(fraud_risk_ge_60,timer) risk:watch>normal#5@1d0h1m(fraud_risk_lt_60,timer)"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if !near(out[1].Scores.FraudRisk, sig(0.4)) {
		t.Errorf("fraud %v", out[1].Scores.FraudRisk)
	}
}

// A purchase leaving the 90-day window while its refund stays raises the
// refund ratio: risk can rise by timer.
func TestRiskRisesWhenPurchaseLeaves90d(t *testing.T) {
	m := newModel(t)
	var s State
	m.Apply(&s, ev("p", "purchase", t0+23*hour, 1_000_000), t0+23*hour, nil) // day 0
	now := t0 + 89*Day + 23*hour + 30*minute
	m.Apply(&s, ev("r", "refund", now, 500_000), now, nil)
	for i := range 5 {
		m.Apply(&s, ev(fmt.Sprint("c", i), "coupon", now+int64(i)*minute, 0), now+int64(i)*minute, nil)
	}
	// coupons 5, ratio 0.5, peak 2 (refund + coupon in minute 0): σ(−6 + 4 + 2 + 0.3) = 57.4 normal.
	if got := m.Scores(&s, now+5*minute).FraudRisk; !near(got, sig(0.3)) || s.Tier(dimRisk) != int(riskNormal) {
		t.Fatalf("fraud %v tier %d", got, s.Tier(dimRisk))
	}
	// At day 90 the purchase leaves: ratio 1 → σ(2.3) = 90.9 high.
	if due := m.NextDue(&s); due != t0+90*Day {
		t.Fatalf("NextDue = %s, want 90d", off(due))
	}
	out := only(m.Advance(&s, t0+90*Day, nil), "risk")
	if got := trs(out); got != "risk:normal>high#2@90d(fraud_risk_ge_85,timer)" {
		t.Errorf("got %s", got)
	}
}

func TestOutOfOrder(t *testing.T) {
	m := newModel(t)
	now := t0 + 100*Day
	events := []*Event{
		ev("a", "login", now-50*Day, 0), ev("b", "purchase", now-40*Day, 20_000_000),
		ev("c", "refund", now-3*Day, 1_500_000), ev("d", "view", now-2*Day, 0),
		ev("e", "coupon", now-hour, 0), ev("f", "purchase", now-95*Day, 7_000),
		ev("g", "task", now, 0), ev("h", "login", now-20*Day, 0),
	}
	var sorted, shuffled State
	for _, i := range []int{5, 0, 1, 7, 2, 3, 4, 6} {
		m.Apply(&sorted, events[i], now, nil)
	}
	for _, i := range []int{6, 2, 4, 0, 7, 5, 3, 1} {
		m.Apply(&shuffled, events[i], now, nil)
	}
	a, b := m.Scores(&sorted, now), m.Scores(&shuffled, now)
	if !near(a.Activity, b.Activity) {
		t.Errorf("activity %v vs %v", a.Activity, b.Activity)
	}
	a.Activity, b.Activity = 0, 0
	if a != b || sorted.tier != shuffled.tier || sorted.FirstSeen() != shuffled.FirstSeen() || sorted.LastSeen() != shuffled.LastSeen() {
		t.Errorf("order matters:\n%+v %v\n%+v %v", a, sorted.tier, b, shuffled.tier)
	}
	// 20 000 + 7 − 1 500 = 18 507; purchases in 90 days: 1 (day −40)
	if a.Monetary365d != 18507 || a.Purchases90d != 1 || a.ActiveDays30 != 4 {
		t.Errorf("scores %+v", a)
	}
}

func TestApplyAdvancesFirst(t *testing.T) {
	m := newModel(t)
	var s State
	m.Apply(&s, ev("a", "login", t0, 0), t0, nil)
	// 40 days later an event: the timers fire first, at their deadlines.
	out := m.Apply(&s, ev("b", "login", t0+40*Day, 0), t0+40*Day, nil)
	want := "lifecycle:new>silent#2@7d(idle_ge_7d,timer) lifecycle:silent>churned#3@30d(idle_ge_30d,timer) " +
		"lifecycle:churned>reactivated#4@40d(returned_after_churn,b)"
	if got := trs(out); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if s.Events() != 2 {
		t.Errorf("events %d", s.Events())
	}
}

func TestApplyDoesNotAllocate(t *testing.T) {
	m := newModel(t)
	var s State
	out := make([]Transition, 0, 16)
	now := t0
	for i := range 200 {
		m.Apply(&s, ev(fmt.Sprint(i), "view", now, 0), now, out[:0])
		now += 10 * minute
	}
	e := ev("x", "view", now, 0)
	p := ev("y", "purchase", now, 1000)
	allocs := testing.AllocsPerRun(1000, func() {
		now += 10 * minute
		e.TS, p.TS = now, now
		m.Apply(&s, e, now, out[:0])
		m.Apply(&s, p, now, out[:0])
	})
	if allocs != 0 {
		t.Errorf("warm Apply allocates %v times", allocs)
	}
}

func TestParams(t *testing.T) {
	p := DefaultParams()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	before := DefaultParams()
	m, err := NewModel(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, before) {
		t.Error("NewModel mutated its params")
	}
	p.Weights["login"] = 100 // the model keeps its own copy
	if m.weight("login") != 1 {
		t.Error("model shares the Weights map")
	}
	bad := DefaultParams()
	bad.Weights["view"] = -1
	bad.HalfLife = 0
	bad.SilentAfter = 40 * 24 * 3600e9
	bad.MonetaryDays = 0
	bad.FraudCoupon = math.NaN()
	bad.RiskWatch = 90
	bad.ValueLongTail = -5
	bad.CouponKeep = 0
	bad.FraudBurst = -0.1 // a negative fraud weight would let risk rise when inputs age out, which timers assume never happens
	_, err = NewModel(bad)
	for _, want := range []string{`Weights["view"] = -1`, "HalfLife = 0s", "SilentAfter = 960h0m0s must be < ChurnedAfter",
		"MonetaryDays = 0", "FraudCoupon = NaN", "RiskWatch = 90", "ValueLongTail = -5", "CouponKeep = 0", "FraudBurst = -0.1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

func TestReasonsFollowParams(t *testing.T) {
	p := DefaultParams()
	p.SilentAfter = 36 * 3600e9
	p.ValueLongTail = 999.5
	m, err := NewModel(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.reasons[dimLifecycle][lifeSilent]; got != "idle_ge_36h" {
		t.Errorf("reason %s", got)
	}
	if got := m.reasons[dimValue][valueLongTail]; got != "monetary_365d_lt_999.5" {
		t.Errorf("reason %s", got)
	}
	d := newModel(t)
	want := [numDims][]string{
		{"", "first_seen_within_7d", "idle_lt_7d", "idle_ge_7d", "idle_ge_30d", "returned_after_churn"},
		{"", "monetary_365d_le_0", "monetary_365d_lt_10000", "monetary_365d_lt_50000", "monetary_365d_ge_50000"},
		{"", "fraud_risk_lt_60", "fraud_risk_ge_60", "fraud_risk_ge_85"},
	}
	if !reflect.DeepEqual(d.reasons, want) {
		t.Errorf("default reasons %v", d.reasons)
	}
}

// A day's purchase sum is capped at 2^50 milli-units; window sums stay exact.
func TestDayAmountCap(t *testing.T) {
	m := newModel(t)
	var s State
	for i := range 3 {
		m.Apply(&s, ev(fmt.Sprint(i), "purchase", t0, 1e15), t0, nil) // 3 × 10^12 units on one day
	}
	m.Apply(&s, ev("r", "refund", t0+Day, 1e15), t0+Day, nil)
	if s.money[0].purchase != maxDayAmount || s.money[0].purchases != 3 {
		t.Fatalf("bucket %+v", s.money[0])
	}
	if got, want := m.Scores(&s, t0+Day).Monetary365d, float64(maxDayAmount-1e15)/1000; got != want {
		t.Errorf("monetary %v, want %v", got, want)
	}
}
