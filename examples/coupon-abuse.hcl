# Coupon-abuse risk: users who farm coupons, refund most of what they buy, or fire bursts
# of events. fraud_risk = 100·σ(bias + coupon·coupons_24h + refund_ratio·refund_ratio_90d
# + burst·peak_epm_1h); its coefficients are set here, stricter than the default.
# Reference: docs/model.md.

model "coupon-abuse" {
  version     = 1
  description = "Coupon farming and refund abuse"

  scores {
    coupon_window = "24h"
    coupon_keep   = 64
    fraud         = { bias = -6, coupon = 1.0, refund_ratio = 5, burst = 0.2 }
  }

  dimension "risk" {
    # Once blocked, a user stays blocked for a week and is only cleared below 40.
    tier "blocked" {
      when      = "scores.fraud_risk >= 90"
      exit      = "scores.fraud_risk < 40"
      min_dwell = "7d"
      reason    = "fraud_risk_ge_90"
    }
    tier "review" {
      when   = "scores.fraud_risk >= 60 || 'coupon_farmer' in tags"
      exit   = "scores.fraud_risk < 30 && !('coupon_farmer' in tags)"
      reason = "fraud_risk_ge_60"
    }
    tier "normal" {
      when   = "true"
      reason = "fraud_risk_lt_60"
    }
  }
}
