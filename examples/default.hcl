# The default tier model as a model file: the tiers of default@v1 (scoring.DefaultParams)
# written as rules. Scores keep their default parameters (no scores block).
# Reference: docs/model.md.

model "default" {
  version     = 2
  description = "Lifecycle, value and risk tiers of default@v1, as rules"

  # Where a user is in its life with the product, from idle time (days since the last
  # activity event) and age (days since the first). A user with no activity event yet
  # (idle_days = -1) has no lifecycle tier.
  dimension "lifecycle" {
    tier "churned" {
      when   = "scores.idle_days >= 30"
      reason = "idle_ge_30d"
    }
    tier "silent" {
      when   = "scores.idle_days >= 7"
      reason = "idle_ge_7d"
    }
    tier "new" {
      when   = "scores.age_days >= 0 && scores.age_days < 7"
      reason = "first_seen_within_7d"
    }
    # Back from churned: reactivated for 7 days, then active.
    tier "reactivated" {
      when   = "scores.idle_days >= 0 && (tier.name == 'churned' || tier.name == 'reactivated' && tier.days < 7)"
      reason = "returned_after_churn"
    }
    tier "active" {
      when   = "scores.idle_days >= 0"
      reason = "idle_lt_7d"
    }
  }

  # Net spend over the last 365 days. Every user is placed: a placement is only ever
  # evaluated for a user with at least one event.
  dimension "value" {
    tier "whale" {
      when   = "scores.monetary_365d >= 50000"
      reason = "monetary_365d_ge_50000"
    }
    tier "high_potential" {
      when   = "scores.monetary_365d >= 10000"
      reason = "monetary_365d_lt_50000"
    }
    tier "long_tail" {
      when   = "scores.monetary_365d > 0"
      reason = "monetary_365d_lt_10000"
    }
    tier "none" {
      when   = "true"
      reason = "monetary_365d_le_0"
    }
  }

  # Coupon farming and refund abuse (fraud_risk: coupons in 24 h, refund ratio over 90
  # days, the peak events per minute of the last hour).
  dimension "risk" {
    tier "high" {
      when   = "scores.fraud_risk >= 85"
      reason = "fraud_risk_ge_85"
    }
    tier "watch" {
      when   = "scores.fraud_risk >= 60"
      reason = "fraud_risk_ge_60"
    }
    tier "normal" {
      when   = "true"
      reason = "fraud_risk_lt_60"
    }
  }
}
