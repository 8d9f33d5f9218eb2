package scoring

import (
	"fmt"
	"math"
	"strconv"
)

// ModelName is the name and version of the default model.
const ModelName = "default@v1"

// CauseTimer is Transition.Cause for time-driven transitions.
const CauseTimer = "timer"

// Model is the default tier model (default@v1) with its parameters. A Model
// is immutable after NewModel and safe for concurrent use; the States it is
// applied to are not.
type Model struct {
	weights       map[string]float64
	defaultWeight float64
	halfLife      float64 // ms

	activeShort, activeLong int64 // days
	monetaryDays            int64
	purchaseDays            int64
	refundDays              int64
	moneyKeep               int64 // days: the longest money window

	newFor, silentAfter, churnedAfter, reactivatedFor int64 // ms

	churnBias, churnIdle, churnA30, churnA7      float64
	fraudBias, fraudCoupon, fraudRatio, fraudBur float64
	couponWindow                                 int64 // ms
	couponKeep                                   int
	burstMinutes                                 int64

	longTailMilli, highPotentialMilli int64   // exclusive upper bounds, milli-units
	zWatch, zHigh                     float64 // logits of RiskWatch and RiskHigh

	reasons [numDims][]string // by tier number
}

// tierNames are the tiers of each dimension, in order (external contract).
var tierNames = [numDims][]string{
	{"", "new", "active", "silent", "churned", "reactivated"},
	{"", "none", "long_tail", "high_potential", "whale"},
	{"", "normal", "watch", "high"},
}

var dimNames = [numDims]string{"lifecycle", "value", "risk"}

// NewModel validates p and returns the model. p is copied (Weights too), so
// later changes to p do not affect the model.
func NewModel(p Params) (*Model, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	m := &Model{
		weights:        make(map[string]float64, len(p.Weights)),
		defaultWeight:  p.DefaultWeight,
		halfLife:       float64(p.HalfLife.Milliseconds()),
		activeShort:    int64(p.ActiveDaysShort),
		activeLong:     int64(p.ActiveDaysLong),
		monetaryDays:   int64(p.MonetaryDays),
		purchaseDays:   int64(p.PurchaseDays),
		refundDays:     int64(p.RefundDays),
		newFor:         p.NewFor.Milliseconds(),
		silentAfter:    p.SilentAfter.Milliseconds(),
		churnedAfter:   p.ChurnedAfter.Milliseconds(),
		reactivatedFor: p.ReactivatedFor.Milliseconds(),
		churnBias:      p.ChurnBias, churnIdle: p.ChurnIdle, churnA30: p.ChurnActive30, churnA7: p.ChurnActive7,
		fraudBias: p.FraudBias, fraudCoupon: p.FraudCoupon, fraudRatio: p.FraudRefundRatio, fraudBur: p.FraudBurst,
		couponWindow:       p.CouponWindow.Milliseconds(),
		couponKeep:         p.CouponKeep,
		burstMinutes:       int64(p.BurstMinutes),
		longTailMilli:      int64(math.Ceil(p.ValueLongTail * 1000)),
		highPotentialMilli: int64(math.Ceil(p.ValueHighPotential * 1000)),
		zWatch:             logit(p.RiskWatch),
		zHigh:              logit(p.RiskHigh),
	}
	for k, w := range p.Weights { // copying: order does not matter
		m.weights[k] = w
	}
	m.moneyKeep = max(m.monetaryDays, m.purchaseDays, m.refundDays)
	m.reasons = [numDims][]string{
		{"", "first_seen_within_" + durName(m.newFor), "idle_lt_" + durName(m.silentAfter),
			"idle_ge_" + durName(m.silentAfter), "idle_ge_" + durName(m.churnedAfter), "returned_after_churn"},
		{"", "monetary_365d_le_0", "monetary_365d_lt_" + num(p.ValueLongTail),
			"monetary_365d_lt_" + num(p.ValueHighPotential), "monetary_365d_ge_" + num(p.ValueHighPotential)},
		{"", "fraud_risk_lt_" + num(p.RiskWatch), "fraud_risk_ge_" + num(p.RiskWatch), "fraud_risk_ge_" + num(p.RiskHigh)},
	}
	return m, nil
}

// durName renders a duration in ms for a reason code: "7d", "36h", "90m", "45s", "1500ms".
func durName(ms int64) string {
	for _, u := range []struct {
		ms   int64
		unit string
	}{{Day, "d"}, {3_600_000, "h"}, {minute, "m"}, {1000, "s"}} {
		if ms%u.ms == 0 {
			return strconv.FormatInt(ms/u.ms, 10) + u.unit
		}
	}
	return strconv.FormatInt(ms, 10) + "ms"
}

// logit maps a fraud_risk threshold (0 < T ≤ 100) to σ⁻¹(T/100); 100 maps to +Inf.
// It uses detLog, not math.Log, so every replica places tiers identically.
func logit(t float64) float64 { return detLog(t / (100 - t)) }

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// Name returns the model's name and version, "default@v1".
func (m *Model) Name() string { return ModelName }

// Dimensions returns the model's dimensions and their tiers, in the order
// State.Tier indexes them. The result is a fresh copy.
func (m *Model) Dimensions() []Dimension {
	out := make([]Dimension, numDims)
	for d := range numDims {
		out[d] = Dimension{Name: dimNames[d], Tiers: append([]string(nil), tierNames[d][1:]...)}
	}
	return out
}

func (m *Model) weight(typ string) float64 {
	if w, ok := m.weights[typ]; ok {
		return w
	}
	return m.defaultWeight
}

// Apply folds one event into s at time now (Unix ms) and appends the
// resulting transitions to out, which it returns. The caller has already
// dropped duplicate event IDs. Apply first advances s to now exactly as
// Advance does (timer transitions that came due since the last evaluation
// come first, Cause "timer", At = their deadline), then folds the event in
// and re-evaluates at now: those transitions have Cause = e.ID and At = now.
// A now earlier than the state's last evaluation time is taken as that time
// (time never runs backwards inside a State). An event ts later than now is
// taken as now. Apply is deterministic and, on a warm state with capacity in
// out, does not allocate in the common case.
func (m *Model) Apply(s *State, e *Event, now int64, out []Transition) []Transition {
	out = m.Advance(s, now, out)
	now = s.evalAt
	wasChurned := s.tier[dimLifecycle] == lifeChurned
	m.fold(s, e, now)
	if s.events == 0 {
		s.valueDueOK = false // valueDue is 0 without events
	}
	s.events++
	target := m.evaluate(s, now)
	if wasChurned {
		if t := target[dimLifecycle]; t != lifeChurned && t != lifeSilent && t != tierNone {
			s.reactivatedUntil = satAdd(now, m.reactivatedFor)
			target[dimLifecycle] = m.lifecycleAt(s, now)
		}
	}
	out = m.emit(s, now, e.ID, target, out)
	s.due, s.dueOK = m.computeDue(s), true
	return out
}

// Advance moves s to time now (Unix ms) without an event: every deadline
// d ≤ now (see NextDue) is evaluated in time order and its transitions are
// appended to out with At = d and Cause "timer"; then now becomes the
// state's evaluation time. A user whose node was down for 40 days thus goes
// active→silent at last_seen+7d and silent→churned at last_seen+30d.
func (m *Model) Advance(s *State, now int64, out []Transition) []Transition {
	if now < s.evalAt {
		now = s.evalAt
	}
	for {
		d := m.NextDue(s)
		if d == 0 || d > now {
			break
		}
		target := m.evaluate(s, d)
		s.evalAt = d
		out = m.emit(s, d, CauseTimer, target, out)
		s.prune(m, d)
		s.due, s.dueOK = m.computeDue(s), true
	}
	if s.evalAt != now {
		// Nothing changes in (evalAt, now]: the cached due stays valid, and
		// pruning only drops what no time ≥ now can count.
		s.evalAt = now
		s.prune(m, now)
	}
	return out
}

// NextDue returns the earliest instant (Unix ms) strictly after the state's
// last evaluation time at which a tier of s would change with time alone, or
// 0 if none would. It is exact: a tier does change at that instant unless an
// event arrives first. Deadlines come from lifecycle (last_seen+7d,
// last_seen+30d, first_seen+7d, reactivated_until), value (a day bucket
// leaving the 365-day window) and risk (a coupon leaving 24 h, a minute
// leaving the burst hour, a day bucket leaving 90 days). It depends only on
// the encoded state, so it is the same before and after an encode/decode.
func (m *Model) NextDue(s *State) int64 {
	if !s.dueOK {
		s.due, s.dueOK = m.computeDue(s), true
	}
	return s.due
}

// Scores returns the user's scores at now (Unix ms; an earlier now is taken
// as the state's last evaluation time). It does not modify s.
func (m *Model) Scores(s *State, now int64) Scores {
	return m.scoresAt(s, max(now, s.evalAt))
}

// evaluate returns the tier of every dimension at t.
func (m *Model) evaluate(s *State, t int64) [numDims]uint8 {
	var tiers [numDims]uint8
	tiers[dimLifecycle] = m.lifecycleAt(s, t)
	if s.events > 0 {
		tiers[dimValue] = m.valueTier(m.monetaryAt(s, t))
		tiers[dimRisk] = m.riskTierAt(s, t)
	}
	return tiers
}

// emit records the tiers in target, appending one transition per changed
// dimension (in dimension order) with the scores at t.
func (m *Model) emit(s *State, t int64, cause string, target [numDims]uint8, out []Transition) []Transition {
	if target == s.tier {
		return out
	}
	sc := m.scoresAt(s, t)
	for d := range numDims {
		if target[d] == s.tier[d] {
			continue
		}
		if d == dimValue {
			s.valueDueOK = false
		}
		s.seq[d]++
		out = append(out, Transition{
			Dimension: dimNames[d],
			From:      tierNames[d][s.tier[d]],
			To:        tierNames[d][target[d]],
			Seq:       s.seq[d],
			At:        t,
			Reason:    m.reasons[d][target[d]],
			Cause:     cause,
			Scores:    sc,
		})
		s.tier[d] = target[d]
	}
	return out
}

// fold adds one event to the aggregates of s; now is the evaluation time.
func (m *Model) fold(s *State, e *Event, now int64) {
	ts := min(e.TS, now)
	amount := max(e.Amount, 0)
	today := floorDiv(now, Day)
	day := floorDiv(ts, Day)
	if w := m.weight(e.Type); w > 0 {
		if s.flags&flagSeen == 0 {
			s.firstSeen, s.lastSeen = ts, ts
			s.flags |= flagSeen
		} else {
			s.firstSeen = min(s.firstSeen, ts)
			s.lastSeen = max(s.lastSeen, ts)
		}
		if s.activity != 0 && s.activityAt != now {
			s.activity = float64(s.activity * decay(now-s.activityAt, m.halfLife))
		}
		s.activityAt = now
		s.activity += float64(w * decay(now-ts, m.halfLife))
		if day > today-m.activeLong {
			s.addActiveDay(day)
		}
	}
	switch e.Type {
	case TypePurchase:
		if s.flags&flagPurchased == 0 || ts > s.lastPurchase {
			s.lastPurchase = ts
			s.flags |= flagPurchased
		}
		if day > today-m.moneyKeep {
			b := s.moneyAt(day)
			p := addDay(b.purchase, amount)
			s.net += p - b.purchase
			b.purchase = p
			if b.purchases < math.MaxUint32 {
				b.purchases++
			}
			s.valueDueOK = false
		}
	case TypeRefund:
		if day > today-m.moneyKeep {
			b := s.moneyAt(day)
			r := addDay(b.refund, amount)
			s.net -= r - b.refund
			b.refund = r
			s.valueDueOK = false
		}
	case TypeCoupon:
		if ts > now-m.couponWindow {
			s.addCoupon(ts, m.couponKeep)
		}
	}
	if mn := floorDiv(ts, minute); mn > floorDiv(now, minute)-m.burstMinutes {
		s.addMinute(mn)
	}
	s.foldAttrs(e)
}

// decay is 2^(−age/halfLife), computed with detExp2 (not math.Exp2) so that
// every replica computes the same bits.
func decay(age int64, halfLife float64) float64 {
	return detExp2(-float64(age) / halfLife)
}

// computeDue computes NextDue from scratch.
func (m *Model) computeDue(s *State) int64 {
	due := int64(0)
	if !s.valueDueOK {
		s.valueDue, s.valueDueOK = m.valueDue(s), true
	}
	for _, d := range [...]int64{m.lifecycleDue(s), s.valueDue, m.riskDue(s)} {
		if d != 0 && (due == 0 || d < due) {
			due = d
		}
	}
	return due
}

// String describes the model for logs: its name and key parameters.
func (m *Model) String() string {
	return fmt.Sprintf("%s(half-life %s, silent %s, churned %s)", ModelName,
		durName(int64(m.halfLife)), durName(m.silentAfter), durName(m.churnedAfter))
}
