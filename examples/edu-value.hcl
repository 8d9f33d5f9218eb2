# Online education: a value ladder by yearly spend on courses.
#   whale           ≥ 50 000 a year (leaves below 45 000: no flapping at the line)
#   high_potential  10 000 – 50 000 (stays at least 30 days once reached)
#   long_tail       < 10 000
#   prospect        never paid
# Reference: docs/model.md.

model "edu-value" {
  version     = 1
  description = "Online education value ladder"

  scores {
    weights = { purchase = 3, lesson = 1, quiz = 1, login = 0.5, view = 0.1 }
    # Course sales are seasonal: judge value over a year.
    monetary_days = 365
  }

  dimension "value" {
    tier "whale" {
      when   = "scores.monetary_365d >= 50000"
      exit   = "scores.monetary_365d < 45000"
      reason = "spend_365d_ge_50000"
    }
    tier "high_potential" {
      when      = "scores.monetary_365d >= 10000"
      min_dwell = "30d"
      reason    = "spend_365d_ge_10000"
    }
    tier "long_tail" {
      when   = "scores.monetary_365d > 0"
      reason = "spend_365d_lt_10000"
    }
    tier "prospect" {
      when   = "true"
      reason = "no_spend_365d"
    }
  }

  # Learners who study often but have not bought much yet: the upsell audience.
  dimension "engagement" {
    tier "studious" {
      when   = "scores.active_days_30 >= 12 && scores.monetary_365d < 10000"
      reason = "active_12_of_30_days"
    }
    tier "casual" {
      when   = "scores.active_days_30 >= 1"
      reason = "active_in_30_days"
    }
    tier "dormant" {
      when   = "true"
      reason = "inactive_30_days"
    }
  }
}
