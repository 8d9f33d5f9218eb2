package scoring

import (
	"math"
)

// RFM: recency, frequency and monetary quintile scores (1–5) of a user
// relative to every buyer of the population. A user who never purchased has
// scores 0. The measures are
//
//	recency    the UTC day of the user's latest purchase (later is better)
//	frequency  its purchases over the kept money window (the longest of
//	           monetary_days, purchase_days and refund_days: 365 days by default)
//	monetary   its purchases minus refunds over that window, in units (at least 0)
//
// as of the user's last evaluation: they change with the user's own events
// and timers, so the shards' sketches hold every user's current values
// without touching idle ones.
// RFMEdges cut each measure at its 20th, 40th, 60th and 80th percentiles
// over every buyer; the cluster computes them from the shards' sketches and
// replicates them, so a score is a pure function of the state and the
// edges: 1 + the number of edges strictly below the user's value (ties go
// down: with most buyers at one purchase, they share the lowest frequency
// quintiles).

// RFMEdges are the population's quintile edges, ascending.
type RFMEdges struct {
	Recency   [4]float64 `json:"recency"`   // UTC days of the latest purchase
	Frequency [4]float64 `json:"frequency"` // purchases over the money window
	Monetary  [4]float64 `json:"monetary"`  // net spend over the money window, units
	// Buyers is how many users the edges were computed over; 0: no edges
	// yet (every buyer scores 3, the middle quintile).
	Buyers int64 `json:"buyers"`
}

// RFM is one user's scores, 1–5 each (0: never purchased).
type RFM struct {
	Recency   int `json:"recency"`
	Frequency int `json:"frequency"`
	Monetary  int `json:"monetary"`
}

// Score is the usual three-digit RFM code: 100·R + 10·F + M (555 for the
// best customers, 0 for users who never purchased).
func (r RFM) Score() int { return 100*r.Recency + 10*r.Frequency + r.Monetary }

// RFMValues returns the measures the population sketches hold for the user:
// the day of its latest purchase, its purchases and net spend (units, at
// least 0) over the money buckets it keeps; ok is false for a user who never
// purchased.
func (s *State) RFMValues() (recency, frequency, monetary float64, ok bool) {
	if s.flags&flagPurchased == 0 {
		return 0, 0, 0, false
	}
	var n uint64
	for i := range s.money {
		n += uint64(s.money[i].purchases)
	}
	return float64(floorDiv(s.lastPurchase, Day)), float64(n), float64(max(s.net, 0)) / 1000, true
}

// Scores returns the user's RFM scores under the edges.
func (e *RFMEdges) Scores(s *State) RFM {
	r, f, m, ok := s.RFMValues()
	if !ok {
		return RFM{}
	}
	if e == nil || e.Buyers == 0 {
		return RFM{3, 3, 3}
	}
	return RFM{quintile(r, &e.Recency), quintile(f, &e.Frequency), quintile(m, &e.Monetary)}
}

func quintile(v float64, edges *[4]float64) int {
	q := 1
	for _, e := range edges {
		if e < v {
			q++
		}
	}
	return q
}

// Valid reports whether the edges are usable: finite and ascending.
func (e *RFMEdges) Valid() bool {
	for _, xs := range [][4]float64{e.Recency, e.Frequency, e.Monetary} {
		for i, x := range xs {
			if math.IsNaN(x) || math.IsInf(x, 0) || i > 0 && x < xs[i-1] {
				return false
			}
		}
	}
	return e.Buyers >= 0
}

// CLV is a simple expected customer value, the classic retention formula
// over a one-year horizon: m·r / (1 + d − r), with m the user's monetary_365d
// (units), r = 1 − churn_risk/100 its chance to stay and d = 0.1 the yearly
// discount rate. It is 0 for a user with nothing spent in the last year. It
// is an estimate for reports and explain; tiers do not read it.
func CLV(sc Scores) float64 {
	if sc.Monetary365d <= 0 {
		return 0
	}
	r := 1 - sc.ChurnRisk/100
	return sc.Monetary365d * r / (1 + clvDiscount - r)
}

const clvDiscount = 0.1
