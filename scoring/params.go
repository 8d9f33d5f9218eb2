package scoring

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Params holds every parameter of the default model. DefaultParams returns
// model v1; NewModel validates a Params and never modifies it. Durations are
// truncated to milliseconds. Window lengths in days count whole UTC days
// including today: a bucket for day d is inside an N-day window at time t
// while d > floor(t/Day) − N.
type Params struct {
	// Weights maps event type to its activity weight (≥ 0). A type with
	// weight 0 does not count as activity (it does not move first/last seen,
	// active days or lifecycle). Default: purchase 3, referral 2,
	// signup/login/task 1, interaction/coupon 0.5, view 0.2,
	// refund/support/profile 0.
	Weights map[string]float64
	// DefaultWeight is the weight of types absent from Weights. Default 0.2.
	DefaultWeight float64
	// HalfLife of the activity score's exponential decay. Default 7 days.
	HalfLife time.Duration

	// ActiveDaysShort and ActiveDaysLong are the windows of active_days_7
	// and active_days_30, in days. Defaults 7 and 30.
	ActiveDaysShort, ActiveDaysLong int
	// MonetaryDays is the window of monetary_365d (and of the value tier),
	// in days. Default 365.
	MonetaryDays int
	// PurchaseDays is the window of purchases_90d, in days. Default 90.
	PurchaseDays int

	// NewFor: a user whose first_seen lies less than NewFor ago is "new".
	// Default 7 days.
	NewFor time.Duration
	// SilentAfter and ChurnedAfter: idle time (since last_seen) from which a
	// user is "silent" and "churned". Defaults 7 and 30 days.
	SilentAfter, ChurnedAfter time.Duration
	// ReactivatedFor: how long a user who returns after being churned stays
	// "reactivated". Default 7 days.
	ReactivatedFor time.Duration

	// ChurnBias, ChurnIdle, ChurnActive30, ChurnActive7 are the coefficients
	// of churn_risk = 100·σ(bias + idle·idle_days + a30·active_days_30 +
	// a7·active_days_7). Defaults −4, 0.35, −0.10, −0.20.
	ChurnBias, ChurnIdle, ChurnActive30, ChurnActive7 float64

	// FraudBias, FraudCoupon, FraudRefundRatio, FraudBurst are the
	// coefficients of fraud_risk = 100·σ(bias + coupon·coupons_24h +
	// ratio·refund_ratio_90d + burst·peak_epm_1h). Defaults −6, 0.8, 4, 0.15.
	FraudBias, FraudCoupon, FraudRefundRatio, FraudBurst float64
	// CouponWindow is the window of coupons_24h. Default 24 h.
	CouponWindow time.Duration
	// CouponKeep is how many of the newest coupon timestamps a state keeps
	// (so coupons_24h saturates there). Default 32, at most 1024.
	CouponKeep int
	// RefundDays is the window of refund_ratio_90d, in days. Default 90.
	RefundDays int
	// BurstMinutes is the window of peak_epm_1h in whole UTC minutes
	// (including the current one). Default 60, at most 1440.
	BurstMinutes int

	// ValueLongTail and ValueHighPotential are the upper bounds (exclusive,
	// in currency units) of the long_tail and high_potential value tiers;
	// monetary ≤ 0 is "none", ≥ ValueHighPotential is "whale".
	// Defaults 10 000 and 50 000.
	ValueLongTail, ValueHighPotential float64
	// RiskWatch and RiskHigh are the fraud_risk thresholds (inclusive) of
	// the "watch" and "high" risk tiers. Defaults 60 and 85.
	RiskWatch, RiskHigh float64
}

// DefaultParams returns the parameters of model default@v1 (issue 2).
func DefaultParams() Params {
	const day = 24 * time.Hour
	return Params{
		Weights: map[string]float64{
			TypePurchase: 3, TypeReferral: 2,
			TypeSignup: 1, TypeLogin: 1, TypeTask: 1,
			TypeInteraction: 0.5, TypeCoupon: 0.5,
			TypeView:   0.2,
			TypeRefund: 0, TypeSupport: 0, TypeProfile: 0,
			TypeTagAdd: 0, TypeTagRemove: 0, TypeProfileErase: 0,
		},
		DefaultWeight:   0.2,
		HalfLife:        7 * day,
		ActiveDaysShort: 7, ActiveDaysLong: 30,
		MonetaryDays: 365, PurchaseDays: 90,
		NewFor: 7 * day, SilentAfter: 7 * day, ChurnedAfter: 30 * day, ReactivatedFor: 7 * day,
		ChurnBias: -4, ChurnIdle: 0.35, ChurnActive30: -0.10, ChurnActive7: -0.20,
		FraudBias: -6, FraudCoupon: 0.8, FraudRefundRatio: 4, FraudBurst: 0.15,
		CouponWindow: 24 * time.Hour, CouponKeep: 32, RefundDays: 90, BurstMinutes: 60,
		ValueLongTail: 10_000, ValueHighPotential: 50_000,
		RiskWatch: 60, RiskHigh: 85,
	}
}

// maxWindowDays bounds every day window (ten years), so that state stays small.
const maxWindowDays = 3660

// Validate reports every invalid parameter, quoting its value. It never
// modifies p.
func (p Params) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidParams}, args...)...))
	}
	finite := func(name string, v float64) bool {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			bad("%s = %v, want a finite number", name, v)
			return false
		}
		return true
	}
	keys := make([]string, 0, len(p.Weights))
	for k := range p.Weights {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report in a stable order
	for _, k := range keys {
		if w := p.Weights[k]; finite("Weights["+k+"]", w) && w < 0 {
			bad("Weights[%q] = %v, want >= 0", k, w)
		}
	}
	if finite("DefaultWeight", p.DefaultWeight) && p.DefaultWeight < 0 {
		bad("DefaultWeight = %v, want >= 0", p.DefaultWeight)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"HalfLife", p.HalfLife}, {"NewFor", p.NewFor}, {"SilentAfter", p.SilentAfter},
		{"ChurnedAfter", p.ChurnedAfter}, {"ReactivatedFor", p.ReactivatedFor}, {"CouponWindow", p.CouponWindow},
	} {
		if d.v < time.Millisecond {
			bad("%s = %v, want >= 1ms", d.name, d.v)
		}
	}
	if p.SilentAfter >= p.ChurnedAfter {
		bad("SilentAfter = %v must be < ChurnedAfter = %v", p.SilentAfter, p.ChurnedAfter)
	}
	for _, w := range []struct {
		name string
		v    int
	}{
		{"ActiveDaysShort", p.ActiveDaysShort}, {"ActiveDaysLong", p.ActiveDaysLong},
		{"MonetaryDays", p.MonetaryDays}, {"PurchaseDays", p.PurchaseDays}, {"RefundDays", p.RefundDays},
	} {
		if w.v < 1 || w.v > maxWindowDays {
			bad("%s = %d, want 1..%d", w.name, w.v, maxWindowDays)
		}
	}
	if p.ActiveDaysShort > p.ActiveDaysLong {
		bad("ActiveDaysShort = %d must be <= ActiveDaysLong = %d", p.ActiveDaysShort, p.ActiveDaysLong)
	}
	if p.CouponKeep < 1 || p.CouponKeep > 1024 {
		bad("CouponKeep = %d, want 1..1024", p.CouponKeep)
	}
	if p.BurstMinutes < 1 || p.BurstMinutes > 1440 {
		bad("BurstMinutes = %d, want 1..1440", p.BurstMinutes)
	}
	for _, c := range []struct {
		name string
		v    float64
	}{
		{"ChurnBias", p.ChurnBias}, {"ChurnIdle", p.ChurnIdle}, {"ChurnActive30", p.ChurnActive30},
		{"ChurnActive7", p.ChurnActive7}, {"FraudBias", p.FraudBias}, {"FraudCoupon", p.FraudCoupon},
		{"FraudRefundRatio", p.FraudRefundRatio}, {"FraudBurst", p.FraudBurst},
	} {
		finite(c.name, c.v)
	}
	// Risk deadlines assume more coupons, refunds or bursts never lower the
	// score (a normal user's risk can then only rise by a purchase leaving the
	// refund window).
	for _, c := range []struct {
		name string
		v    float64
	}{{"FraudCoupon", p.FraudCoupon}, {"FraudRefundRatio", p.FraudRefundRatio}, {"FraudBurst", p.FraudBurst}} {
		if c.v < 0 {
			bad("%s = %v, want >= 0", c.name, c.v)
		}
	}
	if finite("ValueLongTail", p.ValueLongTail) && finite("ValueHighPotential", p.ValueHighPotential) {
		if !(0 < p.ValueLongTail && p.ValueLongTail < p.ValueHighPotential && p.ValueHighPotential <= 9e15) {
			bad("value bounds ValueLongTail = %v, ValueHighPotential = %v, want 0 < long tail < high potential <= 9e15",
				p.ValueLongTail, p.ValueHighPotential)
		}
	}
	if finite("RiskWatch", p.RiskWatch) && finite("RiskHigh", p.RiskHigh) {
		if !(0 < p.RiskWatch && p.RiskWatch < p.RiskHigh && p.RiskHigh <= 100) {
			bad("risk thresholds RiskWatch = %v, RiskHigh = %v, want 0 < watch < high <= 100", p.RiskWatch, p.RiskHigh)
		}
	}
	return errors.Join(errs...)
}
