# A membership ladder: regular → bronze → silver → gold by points earned from spend,
# referrals and completed tasks. Levels only go up (moves), so a member keeps the level
# earned; an enterprise plan (a profile attribute) is gold at once.
#   points: 1 per 100 spent (refunds take them back), 500 per referral, 100 per task
#   gold ≥ 20 000 · silver ≥ 5 000 · bronze ≥ 1 000 · regular otherwise
# Reference: docs/model.md.

model "membership" {
  version     = 1
  description = "Membership ladder by points from spend, referrals and tasks"

  scores {
    counters = {
      points = { purchase = 0.01, refund = -0.01, referral = 500, task = 100 }
    }
  }

  dimension "membership" {
    moves = {
      regular = ["bronze", "silver", "gold"]
      bronze  = ["silver", "gold"]
      silver  = ["gold"]
      gold    = []
    }
    tier "gold" {
      when   = "counters.points >= 20000.0 || (has(attrs.plan) && attrs.plan == 'enterprise')"
      reason = "points_ge_20000"
    }
    tier "silver" {
      when   = "counters.points >= 5000.0"
      reason = "points_ge_5000"
    }
    tier "bronze" {
      when   = "counters.points >= 1000.0"
      reason = "points_ge_1000"
    }
    tier "regular" {
      when   = "true"
      reason = "member"
    }
  }
}
