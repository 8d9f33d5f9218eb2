package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"

	"github.com/strata-io/strata/scoring"
)

// The model report: how good a segmentation is. Each shard scans (a sample
// of) its users on a replica and returns mergeable partial sums: per
// dimension, tier and score the moments of the score among the tier's
// users, and a sketch of monetary_365d; transitions per hour come from the
// shard's hourly counters (replicated state, kept 48 hours).

// moments are mergeable sums of one score over a set of users.
type moments struct {
	N     int64   `json:"n"`
	Sum   float64 `json:"sum"`
	SumSq float64 `json:"sum_sq"`
}

func (m *moments) add(x float64) { m.N++; m.Sum += x; m.SumSq += x * x }

func (m *moments) merge(o moments) { m.N += o.N; m.Sum += o.Sum; m.SumSq += o.SumSq }

func (m moments) mean() float64 { return m.Sum / float64(m.N) }

// variance is the population variance (0 for fewer than 2 users).
func (m moments) variance() float64 {
	if m.N < 2 {
		return 0
	}
	mu := m.mean()
	return math.Max(m.SumSq/float64(m.N)-mu*mu, 0)
}

// reportPart is one shard's contribution to the report.
type reportPart struct {
	Users    int64                                     `json:"users"` // users with state on the shard
	Scanned  int64                                     `json:"scanned"`
	Stats    map[string]map[string]map[string]*moments `json:"stats"` // dimension → tier → score
	Tiers    map[string]map[string]int64               `json:"tiers"` // dimension → tier → scanned users
	Money    []byte                                    `json:"money"` // sketch of monetary_365d > 0 (units)
	Zero     int64                                     `json:"zero"`  // scanned users with monetary_365d ≤ 0
	MoneySum float64                                   `json:"money_sum"`
	Hourly   map[string]map[int64]int64                `json:"hourly"` // dimension → hour (Unix hours) → transitions
	Model    string                                    `json:"model"`
	Now      int64                                     `json:"now"`
}

func newMoneySketch() *ddsketch.DDSketch {
	m, err := mapping.NewLogarithmicMapping(rfmAccuracy)
	if err != nil {
		panic(err)
	}
	return ddsketch.NewDDSketch(m, store.NewDenseStore(), store.NewDenseStore())
}

// appendStore encodes a store's non-empty bins (see appendRFMSketch).
func appendStore(b []byte, s store.Store) []byte {
	var bins [][2]int64
	s.ForEach(func(index int, count float64) bool {
		if count != 0 {
			bins = append(bins, [2]int64{int64(index), int64(count)})
		}
		return false
	})
	b = binary.AppendUvarint(b, uint64(len(bins)))
	for _, bin := range bins {
		b = binary.AppendVarint(b, bin[0])
		b = binary.AppendVarint(b, bin[1])
	}
	return b
}

func decodeStore(d *decoder, s store.Store) {
	n := d.uvarint("bins")
	if n > maxRFMBins {
		d.fail("bins")
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		index, count := d.varint("index"), d.varint("count")
		if d.err == nil && (index < math.MinInt32 || index > math.MaxInt32) {
			d.fail("index")
		}
		s.AddWithCount(int(index), float64(count))
	}
}

// reportPart scans up to limit users of the shard (0: all) in key order.
func (f *FSM) reportPart(limit int) (*reportPart, error) {
	meta := f.Meta()
	model, dims := f.activeModel()
	uses := model.UsesScores()
	p := &reportPart{Stats: map[string]map[string]map[string]*moments{}, Model: model.Name(), Now: meta.Now,
		Hourly: map[string]map[int64]int64{}, Tiers: map[string]map[string]int64{}}
	money := newMoneySketch()
	var s scoring.State
	err := f.store.Users(func(user string, v []byte) error {
		p.Users++
		if limit > 0 && p.Scanned >= int64(limit) {
			return nil
		}
		gen, err := decodeEnvelope(v, nil, &s)
		if err != nil {
			return fmt.Errorf("user %q: %w", user, err)
		}
		if m := f.modelOf(gen); m != nil && m != model {
			return nil // not moved to the active model yet
		}
		p.Scanned++
		sc := model.Scores(&s, meta.Now)
		if sc.Monetary365d > 0 {
			_ = money.Add(sc.Monetary365d)
			p.MoneySum += sc.Monetary365d
		} else {
			p.Zero++
		}
		for i, d := range dims {
			tier := tierName(d, s.Tier(i))
			if tier == "" {
				continue
			}
			if p.Tiers[d.Name] == nil {
				p.Tiers[d.Name] = map[string]int64{}
			}
			p.Tiers[d.Name][tier]++
			if p.Stats[d.Name] == nil {
				p.Stats[d.Name] = map[string]map[string]*moments{}
			}
			if p.Stats[d.Name][tier] == nil {
				p.Stats[d.Name][tier] = map[string]*moments{}
			}
			for _, name := range uses[d.Name] {
				x, ok := scoring.ScoreByName(sc, &s, meta.Now, name)
				if !ok || math.IsNaN(x) || math.IsInf(x, 0) {
					continue
				}
				m := p.Stats[d.Name][tier][name]
				if m == nil {
					m = &moments{}
					p.Stats[d.Name][tier][name] = m
				}
				m.add(x)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: report shard %d: %w", f.cfg.Shard, err)
	}
	p.Money = appendStore(nil, money.GetPositiveValueStore())
	f.mu.Lock()
	for _, c := range f.mu.hourly {
		if p.Hourly[c.Dim] == nil {
			p.Hourly[c.Dim] = map[int64]int64{}
		}
		p.Hourly[c.Dim][c.Hour] += c.N
	}
	f.mu.Unlock()
	return p, nil
}

// ModelReport is the body of GET /v1/model/report (external contract).
type ModelReport struct {
	Model string    `json:"model"`
	AsOf  time.Time `json:"as_of"`
	// Users with state, and how many of them the report read (?sample=).
	Users   int64 `json:"users"`
	Sampled int64 `json:"sampled"`
	// Dimensions of the active model.
	Dimensions map[string]*DimensionReport `json:"dimensions"`
	// ValueConcentration: the share of monetary_365d held by the top 20%
	// of the sampled users (1% accuracy), and the total.
	ValueConcentration struct {
		Top20Share float64 `json:"top20_share"`
		Total      float64 `json:"total_monetary_365d"`
	} `json:"value_concentration"`
}

// DimensionReport judges one dimension.
type DimensionReport struct {
	Scores []string               `json:"scores"` // the scores its rules read
	Tiers  map[string]*TierReport `json:"tiers"`
	// Homogeneity per score: η², the share of the score's variance the tiers
	// explain (1: users of a tier are alike, 0: tiers say nothing).
	Homogeneity map[string]float64 `json:"homogeneity"`
	// Separation per score: between tiers next to each other in the model's
	// order, the distance of their means in pooled standard deviations
	// (Cohen's d); Min is the weakest boundary.
	Separation map[string]*Separation `json:"separation"`
	// TransitionsPerHour over the last 24 complete hours, and in the
	// current hour so far.
	TransitionsPerHour  float64 `json:"transitions_per_hour"`
	TransitionsThisHour int64   `json:"transitions_this_hour"`
}

// TierReport is one tier's size and score profile.
type TierReport struct {
	Users  int64                  `json:"users"` // sampled users in the tier
	Share  float64                `json:"share"` // of the sampled users placed in the dimension
	Scores map[string]ScoreReport `json:"scores"`
}

// ScoreReport is a score's mean and standard deviation in a tier.
type ScoreReport struct {
	Mean   float64 `json:"mean"`
	Stddev float64 `json:"stddev"`
}

// Separation of one score between adjacent tiers.
type Separation struct {
	Min   float64          `json:"min"`
	Pairs []SeparationPair `json:"pairs"`
}

// SeparationPair is the separation of two adjacent tiers.
type SeparationPair struct {
	From, To string
	D        float64 `json:"d"`
}

// maxReportUsers bounds the users a report reads per shard by default.
const defaultReportSample = 100_000

// ModelReport reads up to sample users (0: all; spread evenly over shards)
// and reports on the active model's segmentation.
func (c *Cluster) ModelReport(ctx context.Context, sample int) (*ModelReport, error) {
	perShard := 0
	if sample > 0 {
		perShard = max(1, sample/c.NumShards())
	}
	var parts []*reportPart
	for i := 0; i < c.NumShards(); i++ {
		p, err := c.shardReport(ctx, uint16(i), perShard)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	return c.mergeReport(parts)
}

func (c *Cluster) shardReport(ctx context.Context, shard uint16, limit int) (*reportPart, error) {
	if s := c.Shard(int(shard)); s != nil {
		return s.FSM().reportPart(limit)
	}
	var errs []error
	for _, id := range c.routeCandidates(shard, nil) {
		cctx, cancel := context.WithTimeout(ctx, 4*c.cfg.ProposeTimeout)
		resp, err := c.call(cctx, c.nodeAddr(id), &rpcReq{Op: "report", Shard: shard, Limit: limit})
		cancel()
		if err == nil && resp.Report != nil {
			return resp.Report, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("cluster: report of shard %d: %w", shard, errors.Join(append(errs, ErrNoReplica)...))
}

func (c *Cluster) mergeReport(parts []*reportPart) (*ModelReport, error) {
	model, err := c.compiled(c.ModelPlan().Active)
	if err != nil {
		return nil, err
	}
	r := &ModelReport{Model: model.Name(), Dimensions: map[string]*DimensionReport{}}
	stats := map[string]map[string]map[string]*moments{}
	tiers := map[string]map[string]int64{}
	hourly := map[string]map[int64]int64{}
	money := newMoneySketch()
	var zero int64
	var now int64
	for _, p := range parts {
		r.Users += p.Users
		r.Sampled += p.Scanned
		r.ValueConcentration.Total += p.MoneySum
		zero += p.Zero
		now = max(now, p.Now)
		d := decoder{b: p.Money}
		decodeStore(&d, money.GetPositiveValueStore())
		if d.err != nil {
			return nil, fmt.Errorf("cluster: report: %w", d.err)
		}
		for dim, tiers := range p.Stats {
			for tier, scores := range tiers {
				for score, m := range scores {
					if stats[dim] == nil {
						stats[dim] = map[string]map[string]*moments{}
					}
					if stats[dim][tier] == nil {
						stats[dim][tier] = map[string]*moments{}
					}
					if stats[dim][tier][score] == nil {
						stats[dim][tier][score] = &moments{}
					}
					stats[dim][tier][score].merge(*m)
				}
			}
		}
		for dim, ts := range p.Tiers {
			if tiers[dim] == nil {
				tiers[dim] = map[string]int64{}
			}
			for t, n := range ts {
				tiers[dim][t] += n
			}
		}
		for dim, hours := range p.Hourly {
			if hourly[dim] == nil {
				hourly[dim] = map[int64]int64{}
			}
			for h, n := range hours {
				hourly[dim][h] += n
			}
		}
	}
	r.AsOf = time.UnixMilli(now).UTC()
	r.ValueConcentration.Top20Share = topShare(money, zero, r.ValueConcentration.Total, 0.2)
	uses := model.UsesScores()
	hour := now / 3_600_000
	for _, d := range model.Dimensions() {
		dr := &DimensionReport{Scores: uses[d.Name], Tiers: map[string]*TierReport{},
			Homogeneity: map[string]float64{}, Separation: map[string]*Separation{}}
		if dr.Scores == nil {
			dr.Scores = []string{}
		}
		var placed int64
		for _, t := range d.Tiers {
			tr := &TierReport{Users: tiers[d.Name][t], Scores: map[string]ScoreReport{}}
			for _, score := range dr.Scores {
				if m := stats[d.Name][t][score]; m != nil && m.N > 0 {
					tr.Scores[score] = ScoreReport{Mean: m.mean(), Stddev: math.Sqrt(m.variance())}
				}
			}
			dr.Tiers[t] = tr
			placed += tr.Users
		}
		for _, t := range d.Tiers {
			if placed > 0 {
				dr.Tiers[t].Share = float64(dr.Tiers[t].Users) / float64(placed)
			}
		}
		for _, score := range dr.Scores {
			var all moments
			var within float64
			for _, t := range d.Tiers {
				if m := stats[d.Name][t][score]; m != nil {
					all.merge(*m)
					within += m.variance() * float64(m.N)
				}
			}
			if total := all.variance() * float64(all.N); total > 0 {
				dr.Homogeneity[score] = 1 - within/total
			}
			sep := &Separation{Min: math.Inf(1)}
			var prev string
			for _, t := range d.Tiers {
				m := stats[d.Name][t][score]
				if m == nil || m.N == 0 {
					continue
				}
				if prev != "" {
					p := stats[d.Name][prev][score]
					pooled := math.Sqrt((p.variance()*float64(p.N) + m.variance()*float64(m.N)) / float64(p.N+m.N))
					dd := math.Abs(p.mean() - m.mean())
					if pooled > 0 {
						dd /= pooled
					} else if dd > 0 {
						dd = math.Inf(1)
					}
					sep.Pairs = append(sep.Pairs, SeparationPair{From: prev, To: t, D: finite(dd)})
					sep.Min = math.Min(sep.Min, finite(dd))
				}
				prev = t
			}
			if len(sep.Pairs) > 0 {
				dr.Separation[score] = sep
			}
		}
		var day int64
		for h, n := range hourly[d.Name] {
			switch {
			case h == hour:
				dr.TransitionsThisHour += n
			case h < hour && h >= hour-24:
				day += n
			}
		}
		dr.TransitionsPerHour = float64(day) / 24
		r.Dimensions[d.Name] = dr
	}
	return r, nil
}

// finite caps an infinite separation (tiers without spread) for JSON.
func finite(x float64) float64 {
	if math.IsInf(x, 1) {
		return math.MaxFloat64
	}
	return x
}

// topShare is the share of total held by the top frac of users: zero of
// them hold nothing, the rest are in the sketch.
func topShare(s *ddsketch.DDSketch, zero int64, total, frac float64) float64 {
	n := float64(zero) + s.GetCount()
	if n == 0 || total <= 0 {
		return 0
	}
	want := frac * n
	type bin struct{ value, count float64 }
	var bins []bin
	s.ForEach(func(value, count float64) bool {
		bins = append(bins, bin{value, count})
		return false
	})
	sort.Slice(bins, func(i, j int) bool { return bins[i].value > bins[j].value })
	var held, taken float64
	for _, b := range bins {
		c := math.Min(b.count, want-taken)
		if c <= 0 {
			break
		}
		held += c * b.value
		taken += c
	}
	return math.Min(held/total, 1)
}
