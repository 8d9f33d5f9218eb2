# Classic RFM segments. rfm.recency, rfm.frequency and rfm.monetary are quintile scores
# (1–5) of the user's latest purchase day, its purchases and its net spend over the last
# 365 days, relative to every buyer of the population (the cluster keeps sketches per
# shard and replicates the quintile edges); 0 for a user who never purchased. Segments
# are checked in order, the first that holds wins.
# Reference: docs/model.md ("RFM").

model "rfm-segments" {
  version     = 1
  description = "RFM segments: champions, loyal, at risk, hibernating, …"

  dimension "rfm" {
    tier "prospect" {
      when   = "rfm.recency == 0"
      reason = "never_purchased"
    }
    tier "cant_lose" {
      when   = "rfm.recency <= 2 && rfm.frequency >= 4 && rfm.monetary >= 4"
      reason = "best_customers_gone_quiet"
    }
    tier "champions" {
      when   = "rfm.recency >= 4 && rfm.frequency >= 4 && rfm.monetary >= 4"
      reason = "recent_frequent_high_spend"
    }
    tier "loyal" {
      when   = "rfm.recency >= 3 && rfm.frequency >= 4"
      reason = "frequent_buyers"
    }
    tier "potential_loyalist" {
      when   = "rfm.recency >= 4 && rfm.frequency >= 2"
      reason = "recent_repeat_buyers"
    }
    tier "new_customers" {
      when   = "rfm.recency >= 4"
      reason = "recent_first_purchase"
    }
    tier "at_risk" {
      when   = "rfm.recency <= 2 && rfm.frequency >= 3"
      reason = "frequent_buyers_gone_quiet"
    }
    tier "lost" {
      when   = "rfm.recency == 1 && rfm.frequency <= 2"
      reason = "long_gone_few_purchases"
    }
    tier "hibernating" {
      when   = "rfm.recency <= 2"
      reason = "quiet_few_purchases"
    }
    tier "needs_attention" {
      when   = "true"
      reason = "middle_of_the_pack"
    }
  }
}
