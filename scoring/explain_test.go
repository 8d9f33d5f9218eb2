package scoring

import (
	"strings"
	"testing"
)

func TestExplainRuleModel(t *testing.T) {
	spec, err := loadExample("edu-value.hcl")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewRuleModel(spec)
	if err != nil {
		t.Fatal(err)
	}
	const t0 = int64(1_790_000_000_000)
	s := new(State)
	apply := func(id string, day int64, typ string, amount int64) {
		e := Event{ID: id, User: "u", Type: typ, TS: t0 + day*Day, Amount: amount * 1000}
		m.Apply(s, &e, e.TS, nil)
	}
	apply("1", 0, TypePurchase, 52_000)
	apply("2", 1, TypeRefund, 5_000) // 47 000: held whale by the exit rule
	value := m.Explain(s, t0+Day)[0]
	if value.Dimension != "value" || value.Tier != "whale" || value.Holds || !strings.Contains(value.Held, "exit rule") {
		t.Errorf("whale under its line: %+v", value)
	}
	if value.Rule != "scores.monetary_365d >= 50000" || value.Exit != "scores.monetary_365d < 45000" ||
		value.Reads["scores.monetary_365d"] != 47000.0 || value.Reason != "spend_365d_ge_50000" {
		t.Errorf("rule, exit, reads: %+v", value)
	}
	if len(value.Tiers) != 4 || value.Tiers[0].Holds || !value.Tiers[1].Holds {
		t.Errorf("tier checks %+v: want whale false, high_potential true", value.Tiers)
	}
	apply("3", 2, TypeRefund, 3_000) // 44 000: high_potential, held 30 days by its dwell
	apply("4", 3, TypeRefund, 40_000)
	value = m.Explain(s, t0+3*Day)[0]
	if value.Tier != "high_potential" || value.Holds || !strings.HasPrefix(value.Held, "min_dwell") || value.Previous != "whale" {
		t.Errorf("dwell: %+v", value)
	}

	// Attributes a rule reads are shown, a missing one as null with the
	// evaluation error on the tier it failed.
	spec, err = loadExample("membership.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if m, err = NewRuleModel(spec); err != nil {
		t.Fatal(err)
	}
	s = new(State)
	e := Event{ID: "p", User: "u", Type: TypeProfile, TS: t0, Props: []byte(`{"plan":"enterprise"}`)}
	m.Apply(s, &e, t0, nil)
	mem := m.Explain(s, t0)[0]
	if mem.Tier != "gold" || !mem.Holds || mem.Reads["attrs.plan"] != "enterprise" {
		t.Errorf("enterprise member: %+v", mem)
	}
}

func TestExplainBuiltinModel(t *testing.T) {
	m, err := NewModel(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	const t0 = int64(1_790_000_000_000)
	s := new(State)
	e := Event{ID: "1", User: "u", Type: TypePurchase, TS: t0, Amount: 60_000_000}
	m.Apply(s, &e, t0, nil)
	ex := m.Explain(s, t0)
	if len(ex) != 3 || ex[1].Tier != "whale" || ex[1].Rule != "scores.monetary_365d >= 50000" || !ex[1].Holds ||
		ex[1].Reads["scores.monetary_365d"] != 60000.0 {
		t.Errorf("value: %+v", ex[1])
	}
	if ex[0].Tier != "new" || ex[0].Rule != "scores.age_days < 7" || ex[2].Rule != "scores.fraud_risk < 60" {
		t.Errorf("lifecycle %+v, risk %+v", ex[0], ex[2])
	}
	// Ten days on, the user is silent by timer: explain at that instant
	// shows the rule of the tier it will be in (new no longer holds).
	later := m.Explain(s, t0+10*Day)
	if later[0].Holds || later[0].Reads["scores.idle_days"] != 10.0 {
		t.Errorf("lifecycle ten days on: %+v", later[0])
	}
}
