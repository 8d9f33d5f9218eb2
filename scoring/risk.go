package scoring

import "math"

// fraudInputs are the inputs of fraud_risk at one instant.
type fraudInputs struct {
	coupons int     // coupon events with ts in (t − CouponWindow, t], at most CouponKeep
	ratio   float64 // refund_ratio_90d
	peak    uint32  // peak_epm_1h
}

func (m *Model) fraudInputsAt(s *State, t int64) fraudInputs {
	in := m.burstInputsAt(s, t)
	in.ratio = m.refundRatioAt(s, t)
	return in
}

// burstInputsAt returns the fraud inputs at t but the refund ratio: coupons
// and peak (ratio 0).
func (m *Model) burstInputsAt(s *State, t int64) fraudInputs {
	var in fraudInputs
	for i := len(s.coupons) - 1; i >= 0 && s.coupons[i] > t-m.couponWindow; i-- {
		in.coupons++
	}
	firstMin := floorDiv(t, minute) - m.burstMinutes
	for i := len(s.minutes) - 1; i >= 0 && s.minutes[i].minute > firstMin; i-- {
		in.peak = max(in.peak, s.minutes[i].count)
	}
	return in
}

// refundRatioAt returns refund_ratio_90d at t.
func (m *Model) refundRatioAt(s *State, t int64) float64 {
	first := floorDiv(t, Day) - m.refundDays
	var bought, refunded int64
	for i := len(s.money) - 1; i >= 0 && s.money[i].day > first; i-- {
		bought += s.money[i].purchase
		refunded += s.money[i].refund
	}
	return refundRatio(bought, refunded)
}

// riskTierAt returns the risk tier at t. The refund ratio lies in [0, 1]
// and fraudZ is monotone in it (FraudRefundRatio ≥ 0; a rounded product or
// sum never decreases when an operand grows), so when ratios 0 and 1 give
// the same tier that is the tier, and the refund window is not walked.
func (m *Model) riskTierAt(s *State, t int64) uint8 {
	in := m.burstInputsAt(s, t)
	low := m.riskTier(m.fraudZ(in))
	in.ratio = 1
	if high := m.riskTier(m.fraudZ(in)); high == low {
		return low
	}
	in.ratio = m.refundRatioAt(s, t)
	return m.riskTier(m.fraudZ(in))
}

// refundRatio is min(1, refunded/bought); 1 with refunds but no purchases,
// 0 with neither.
func refundRatio(bought, refunded int64) float64 {
	switch {
	case refunded == 0:
		return 0
	case bought == 0 || refunded >= bought:
		return 1
	}
	return float64(refunded) / float64(bought)
}

// fraudAt returns fraud_risk at t.
func (m *Model) fraudAt(s *State, t int64) float64 {
	return 100 * sigmoid(m.fraudZ(m.fraudInputsAt(s, t)))
}

// fraudZ is the logit of fraud_risk: FraudBias + FraudCoupon·coupons_24h +
// FraudRefundRatio·refund_ratio_90d + FraudBurst·peak_epm_1h. Each product
// is rounded on its own (no fused multiply-add), so every platform computes
// the same bits.
func (m *Model) fraudZ(in fraudInputs) float64 {
	return m.fraudBias + float64(m.fraudCoupon*float64(in.coupons)) +
		float64(m.fraudRatio*in.ratio) + float64(m.fraudBur*float64(in.peak))
}

// sigmoid is σ(z) = 1/(1+e^(−z)), with detExp (not math.Exp) so that every
// replica computes the same bits.
func sigmoid(z float64) float64 { return 1 / (1 + detExp(-z)) }

// riskTier places a fraud logit z. fraud_risk = 100·σ(z) ≥ T exactly when
// z ≥ ln(T/(100−T)), so tiers are decided on z against thresholds computed
// once: no exp on the hot path, and no dependence on the platform's exp.
func (m *Model) riskTier(z float64) uint8 {
	switch {
	case z >= m.zHigh:
		return riskHigh
	case z >= m.zWatch:
		return riskWatch
	}
	return riskNormal
}

// riskDue returns the first instant after evalAt at which the risk tier
// changes with time alone, or 0. Candidates are the instants at which an
// input of fraud_risk changes: a coupon leaves its window (ts + 24 h), a
// minute leaves the burst window, a day bucket leaves the refund window.
// While the tier is normal only a purchase leaving the refund window (while
// refunds remain) can raise the score, so only those are tried. The walk
// keeps the inputs incrementally, in one pass over the sorted lists.
func (m *Model) riskDue(s *State) int64 {
	if s.events == 0 {
		return 0
	}
	cur := s.tier[dimRisk]
	onlyRising := cur == riskNormal
	couponExit := func(i int) int64 { return s.coupons[i] + m.couponWindow }
	minuteExit := func(i int) int64 { return (s.minutes[i].minute + m.burstMinutes) * minute }
	bucketExit := func(i int) int64 { return (s.money[i].day + m.refundDays) * Day }

	// Inputs at evalAt; ci, mi, bi index the first element still counted.
	t := s.evalAt
	ci, mi, bi := 0, 0, 0
	for ci < len(s.coupons) && couponExit(ci) <= t {
		ci++
	}
	for mi < len(s.minutes) && minuteExit(mi) <= t {
		mi++
	}
	peak := maxCount(s.minutes[mi:])
	if onlyRising {
		// Coupons and peak only fall with time and the ratio is at most 1:
		// if even ratio 1 with today's coupons and peak is normal (fraudZ is
		// monotone, see riskTierAt), the tier never rises.
		if m.riskTier(m.fraudZ(fraudInputs{coupons: len(s.coupons) - ci, ratio: 1, peak: peak})) == cur {
			return 0
		}
	}
	for bi < len(s.money) && bucketExit(bi) <= t {
		bi++
	}
	var bought, refunded int64
	for i := bi; i < len(s.money); i++ {
		b := &s.money[i]
		bought += b.purchase
		refunded += b.refund
	}
	if onlyRising && (refunded == 0 || refunded >= bought) {
		return 0 // ratio 0 stays 0; ratio 1 cannot rise; nothing else rises with time
	}

	const none = math.MaxInt64
	for {
		next := int64(none)
		if !onlyRising {
			if ci < len(s.coupons) {
				next = couponExit(ci)
			}
			if mi < len(s.minutes) {
				next = min(next, minuteExit(mi))
			}
		}
		j := bi
		for j < len(s.money) && (s.money[j].purchase == 0 && (onlyRising || s.money[j].refund == 0)) {
			j++
		}
		if j < len(s.money) {
			next = min(next, bucketExit(j))
		}
		if next == none {
			return 0
		}
		for ci < len(s.coupons) && couponExit(ci) <= next {
			ci++
		}
		recount := false
		for mi < len(s.minutes) && minuteExit(mi) <= next {
			recount = recount || s.minutes[mi].count == peak
			mi++
		}
		if recount {
			peak = maxCount(s.minutes[mi:])
		}
		for bi < len(s.money) && bucketExit(bi) <= next {
			bought -= s.money[bi].purchase
			refunded -= s.money[bi].refund
			bi++
		}
		in := fraudInputs{coupons: len(s.coupons) - ci, ratio: 1, peak: peak}
		if onlyRising && m.riskTier(m.fraudZ(in)) == cur {
			return 0 // as above: from next on, not even ratio 1 leaves normal
		}
		in.ratio = refundRatio(bought, refunded)
		if m.riskTier(m.fraudZ(in)) != cur {
			return next
		}
	}
}

func maxCount(ms []minuteBucket) uint32 {
	var p uint32
	for i := range ms {
		p = max(p, ms[i].count)
	}
	return p
}
