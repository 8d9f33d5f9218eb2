package scoring

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const goodModel = `
model "edu" {
  version     = 3
  description = "online education value ladder"

  dimension "value" {
    tier "whale" {
      when      = "scores.monetary_365d >= 50000"
      exit      = "scores.monetary_365d < 45000"
      min_dwell = "7d"
      reason    = "monetary_365d_ge_50000"
    }
    tier "high_potential" {
      when = <<-CEL
        scores.monetary_365d >= 10000 &&
        scores.purchases_90d >= 2
      CEL
    }
    tier "long_tail" { when = "true" }
  }

  dimension "region" {
    moves = { none = ["eu", "us"] }
    tier "eu"   { when = "attrs.region == \"eu\" || 'vip' in tags" }
    tier "us"   { when = "attrs.region == 'us'" }
    tier "none" { when = "true" }
  }
}
`

func TestParseModelFile(t *testing.T) {
	spec, err := ParseModelFile("edu.hcl", []byte(goodModel))
	if err != nil {
		t.Fatal(err)
	}
	if spec.ID() != "edu@v3" || len(spec.Dimensions) != 2 {
		t.Fatalf("model %s with %d dimensions", spec.ID(), len(spec.Dimensions))
	}
	value := spec.Dimensions[0]
	var names []string
	for _, tier := range value.Tiers {
		names = append(names, tier.Name)
	}
	if got := strings.Join(names, ","); got != "whale,high_potential,long_tail" {
		t.Errorf("value tiers %s", got)
	}
	whale := value.Tiers[0]
	if whale.Exit == nil || whale.MinDwell != 7*Day || whale.Reason != "monetary_365d_ge_50000" {
		t.Errorf("whale: exit %v, dwell %d, reason %q", whale.Exit, whale.MinDwell, whale.Reason)
	}
	if hp := value.Tiers[1]; hp.Exit != nil || hp.MinDwell != 0 || hp.Reason != "rule_high_potential" ||
		!strings.Contains(hp.When.Source, "purchases_90d >= 2") {
		t.Errorf("high_potential: %+v, when %q", hp, hp.When.Source)
	}
	if m := spec.Dimensions[1].Moves; len(m) != 1 || strings.Join(m["none"], ",") != "eu,us" {
		t.Errorf("region moves %v", m)
	}
}

// at returns "file:line:column" of the n-th (0-based) occurrence of marker
// in src, plus skip runes: the position a diagnostic should name.
func at(t *testing.T, file, src, marker string, n, skip int) string {
	t.Helper()
	off := -1
	for i := 0; i <= n; i++ {
		j := strings.Index(src[off+1:], marker)
		if j < 0 {
			t.Fatalf("marker %q #%d not in source", marker, n)
		}
		off += 1 + j
	}
	for ; skip > 0; skip-- {
		_, size := utf8.DecodeRuneInString(src[off:])
		off += size
	}
	line := 1 + strings.Count(src[:off], "\n")
	col := 1 + utf8.RuneCountInString(src[strings.LastIndexByte(src[:off], '\n')+1:off])
	return fmt.Sprintf("%s:%d:%d", file, line, col)
}

// A bad model is rejected as a whole, and every problem is reported at its
// file:line:column, inside rules too (through escapes and heredocs).
func TestParseModelFileErrors(t *testing.T) {
	src := `model "bad" {
  version = 1
  dimension "value" {
    tier "whale" {
      when = "attrs[\"é\"] == 'x' && scores.monetary_366d >= 1"
      min_dwell = "soon"
    }
    tier "mid" {
      when = <<-CEL
        scores.monetary_365d > 0 &&
          'vip' in tagz
      CEL
    }
    tier "num" { when = "scores.activity * 2.0" }
    tier "syntax" { when = "scores.activity >= " }
    tier "whale" { when = "true" }
  }
  dimension "risk" {
    moves = { normal = ["high"] }
    tier "normal" { when = "true" }
  }
}
`
	_, err := ParseModelFile("bad.hcl", []byte(src))
	if !errors.Is(err, ErrInvalidModel) {
		t.Fatalf("error %v, want ErrInvalidModel", err)
	}
	want := []struct{ pos, msg string }{
		{at(t, "bad.hcl", src, ".monetary_366d", 0, 0), "undefined field 'monetary_366d'"},
		{at(t, "bad.hcl", src, `"soon"`, 0, 0), `min_dwell "soon"`},
		{at(t, "bad.hcl", src, "tagz", 0, 0), "undeclared reference to 'tagz'"},
		{at(t, "bad.hcl", src, "* 2", 0, 0), "a rule must be a bool"},
		{at(t, "bad.hcl", src, `" }`, 1, 0), "Syntax error"},
		{at(t, "bad.hcl", src, `tier "whale"`, 1, 0), `tier "whale" declared twice`},
		{at(t, "bad.hcl", src, "moves", 0, 0), `"high" is not a tier of dimension "risk"`},
	}
	lines := strings.Split(err.Error(), "\n")[1:]
	for _, w := range want {
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, w.pos+": ") && strings.Contains(l, w.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("no error %q at %s in:\n%s", w.msg, w.pos, err)
		}
	}
	if len(lines) != len(want) {
		t.Errorf("%d errors, want %d:\n%s", len(lines), len(want), err)
	}
}

func TestParseModelFileStructure(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"no model", `x = 1`, "Unsupported argument"},
		{"two models", `model "a" {
  version = 1
  dimension "d" {
    tier "t" { when = "true" }
  }
}
model "b" {
  version = 1
  dimension "d" {
    tier "t" { when = "true" }
  }
}`, "exactly one model block, found 2"},
		{"no dimension", `model "a" { version = 1 }`, "at least one dimension"},
		{"bad version", `model "a" {
  version = 0
  dimension "d" {
    tier "t" { when = "true" }
  }
}`, "model version 0"},
		{"interpolation", `model "a" {
  version = 1
  dimension "d" {
    tier "t" { when = "${1}" }
  }
}`, "without ${…} interpolation"},
		{"bad name", `model "A b" {
  version = 1
  dimension "d" {
    tier "t" { when = "true" }
  }
}`, `model name "A b"`},
		{"hcl syntax", `model "a" {`, "bad.hcl:1:"},
	} {
		_, err := ParseModelFile("bad.hcl", []byte(tc.src))
		if !errors.Is(err, ErrInvalidModel) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestParseDays(t *testing.T) {
	for in, want := range map[string]int64{
		"7d": 7 * Day, "36h": 36 * 3_600_000, "1d12h": Day + 12*3_600_000, "90m": 90 * 60_000, "1500ms": 1500,
	} {
		if got, err := ParseDays(in); err != nil || got != want {
			t.Errorf("ParseDays(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "7", "-1d", "x1d", "1d-", "7days"} {
		if _, err := ParseDays(in); err == nil {
			t.Errorf("ParseDays(%q) accepted", in)
		}
	}
}

// A scores block overrides score parameters; the rest keep their defaults.
func TestParseModelFileScores(t *testing.T) {
	src := `model "m" {
  version = 1
  scores {
    weights       = { purchase = 5, lesson = 1.5 }
    half_life     = "14d"
    monetary_days = 180
    churn         = { idle = 0.5 }
  }
  dimension "d" {
    tier "t" { when = "true" }
  }
}
`
	spec, err := ParseModelFile("m.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p, d := spec.Params, DefaultParams()
	if p.Weights["purchase"] != 5 || p.Weights["lesson"] != 1.5 || len(p.Weights) != 2 ||
		p.HalfLife != 14*24*time.Hour || p.MonetaryDays != 180 || p.ChurnIdle != 0.5 {
		t.Errorf("overrides not applied: %+v", p)
	}
	if p.PurchaseDays != d.PurchaseDays || p.ChurnBias != d.ChurnBias || p.DefaultWeight != d.DefaultWeight {
		t.Errorf("defaults not kept: %+v", p)
	}
	if _, err := NewModel(p); err != nil {
		t.Errorf("params do not make a model: %v", err)
	}

	bad := `model "m" {
  version = 1
  scores {
    half_life     = "soon"
    monetary_days = 0
    fraud         = { coupons = 1 }
  }
  dimension "d" {
    tier "t" { when = "true" }
  }
}
`
	_, err = ParseModelFile("m.hcl", []byte(bad))
	for _, want := range []string{
		`m.hcl:3:3: scores: half_life "soon"`,
		`m.hcl:3:3: scores: fraud has no coefficient "coupons" (it has bias, burst, coupon, refund_ratio)`,
		`m.hcl:3:3: scores: MonetaryDays = 0, want 1..3660`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one containing %q", err, want)
		}
	}
	typo := strings.Replace(src, "half_life", "half_lfe", 1)
	if _, err := ParseModelFile("m.hcl", []byte(typo)); err == nil || !strings.Contains(err.Error(), `m.hcl:5:5: Unsupported argument`) {
		t.Errorf("a misspelt parameter: %v", err)
	}
}
