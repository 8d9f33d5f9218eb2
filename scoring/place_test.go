package scoring

import (
	"slices"
	"testing"
)

const placeModel = `
model "place" {
  version = 1
  dimension "value" {
    tier "whale" {
      when = "scores.monetary_365d >= 50000"
      exit = "scores.monetary_365d < 45000"
    }
    tier "high_potential" {
      when      = "scores.monetary_365d >= 10000"
      min_dwell = "7d"
    }
    tier "long_tail" { when = "scores.monetary_365d > 0" }
  }
  dimension "lifecycle" {
    moves = { churned = ["reactivated"] }
    tier "reactivated" { when = "scores.activity >= 1.0 && 'returned' in tags" }
    tier "active"      { when = "scores.activity >= 1.0" }
    tier "churned"     { when = "true" }
  }
  dimension "region" {
    tier "eu"    { when = "attrs.region == 'eu'" }
    tier "not_eu" { when = "!(has(attrs.region) && attrs.region == 'eu') && !(attrs.region == 'eu')" }
    tier "other" { when = "true" }
  }
}
`

func placers(t *testing.T) map[string]*placer {
	t.Helper()
	spec, err := ParseModelFile("place.hcl", []byte(placeModel))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*placer{}
	for i := range spec.Dimensions {
		out[spec.Dimensions[i].Name] = newPlacer(&spec.Dimensions[i])
	}
	return out
}

// walk places a user through a sequence of inputs, one a day, and returns
// the tier names it was in after each step and how many moves it made.
func walk(p *placer, inputs []RuleInput) (tiers []string, moves int) {
	cur := Placement{Tier: NoTier, Previous: NoTier}
	for i := range inputs {
		now := int64(i) * Day
		next := p.place(cur, now, &inputs[i])
		if next != cur.Tier {
			if cur.Tier != NoTier {
				moves++
			}
			cur = Placement{Tier: next, Since: now, Previous: cur.Tier}
		}
		name := "-"
		if next != NoTier {
			name = p.dim.Tiers[next].Name
		}
		tiers = append(tiers, name)
	}
	return tiers, moves
}

func money(vals ...float64) []RuleInput {
	out := make([]RuleInput, len(vals))
	for i, v := range vals {
		out[i].Scores.Monetary365d = v
	}
	return out
}

// A user oscillating around the whale threshold enters once and leaves
// once: between the enter (≥ 50 000) and exit (< 45 000) thresholds the
// tier holds.
func TestPlaceHysteresis(t *testing.T) {
	p := placers(t)["value"]
	vals := []float64{51_000}
	for range 20 {
		vals = append(vals, 49_000, 51_000, 45_000) // without hysteresis: a move every day
	}
	vals = append(vals, 44_999, 46_000, 49_999, 50_000)
	tiers, moves := walk(p, money(vals...))
	for i, tier := range tiers[:61] {
		if tier != "whale" {
			t.Fatalf("day %d: %s, want whale (between the thresholds): %v", i, tier, tiers)
		}
	}
	// Below 45 000 the user leaves for high_potential and stays there until
	// 50 000 again (the dwell of high_potential never delays entering whale).
	if got := tiers[61:]; !slices.Equal(got, []string{"high_potential", "high_potential", "high_potential", "whale"}) {
		t.Errorf("after the exit: %v", got)
	}
	if moves != 2 {
		t.Errorf("%d moves, want 2 (leave whale once, enter it again at 50 000): %v", moves, tiers)
	}
}

// A tier with min_dwell holds the user until the dwell has passed, even
// when its rule no longer holds; a tier earlier in the order is entered at
// once.
func TestPlaceMinDwell(t *testing.T) {
	p := placers(t)["value"]
	tiers, _ := walk(p, money(20_000, 500, 500, 500, 500, 500, 500, 500, 500))
	want := []string{"high_potential", "high_potential", "high_potential", "high_potential",
		"high_potential", "high_potential", "high_potential", "long_tail", "long_tail"}
	if !slices.Equal(tiers, want) {
		t.Errorf("tiers %v, want %v (7 days of dwell from day 0)", tiers, want)
	}
	tiers, _ = walk(p, money(20_000, 60_000, 500))
	if !slices.Equal(tiers, []string{"high_potential", "whale", "long_tail"}) {
		t.Errorf("tiers %v: whale is entered at once, and left without dwell", tiers)
	}
}

// A dimension's moves restrict where a user may go: a churned user can only
// become reactivated, even when a tier earlier in the list holds.
func TestPlaceMoves(t *testing.T) {
	p := placers(t)["lifecycle"]
	active := RuleInput{Scores: Scores{Activity: 2}}
	idle := RuleInput{}
	back := RuleInput{Scores: Scores{Activity: 2}, Tags: []string{"returned"}}
	tiers, moves := walk(p, []RuleInput{active, idle, active, back, active, idle})
	want := []string{"active", "churned", "churned", "reactivated", "active", "churned"}
	if !slices.Equal(tiers, want) || moves != 4 {
		t.Errorf("tiers %v (%d moves), want %v", tiers, moves, want)
	}
	// Without moves, "active" would be reachable from churned; check the
	// rule allowed it only because reactivated was listed.
	if p.allowed[2][1] || !p.allowed[2][0] || !p.allowed[0][2] {
		t.Errorf("allowed matrix %v", p.allowed)
	}
}

// A rule reading an attribute the user lacks is false, not an error that
// stops placement.
func TestPlaceMissingAttribute(t *testing.T) {
	p := placers(t)["region"]
	tiers, _ := walk(p, []RuleInput{{}, {Attrs: map[string]string{"region": "eu"}}, {Attrs: map[string]string{"region": "us"}}})
	// A user without the attribute: "!(attrs.region == 'eu')" fails, so
	// not_eu's when is false and the user lands in other; with has() first
	// it would hold.
	if !slices.Equal(tiers, []string{"other", "eu", "not_eu"}) {
		t.Errorf("tiers %v", tiers)
	}
}

// BenchmarkPlace measures placing one user in one dimension: the rules of
// the value dimension, as on every applied event.
func BenchmarkPlace(b *testing.B) {
	spec, err := ParseModelFile("place.hcl", []byte(placeModel))
	if err != nil {
		b.Fatal(err)
	}
	p := newPlacer(&spec.Dimensions[0])
	in := RuleInput{Scores: Scores{Monetary365d: 30_000}}
	cur := Placement{Tier: 1, Previous: NoTier}
	b.ReportAllocs()
	for b.Loop() {
		in.Scores.Monetary365d += 0.5
		_ = p.place(cur, 0, &in)
	}
}
