// Package scoring is Strata's domain core: it turns a user's events into
// scores, tiers and tier transitions. It is pure and deterministic — no
// clock, no randomness, no I/O, no goroutines, no map-order dependence —
// so every Raft replica that applies the same log computes byte-identical
// state. Time is always an argument, in Unix milliseconds (UTC).
//
// # Flow
//
//  1. Decode validates one raw NATS message against the v1 event contract
//     (strict single-pass JSON scanner, no reflection). A rejected message
//     yields an *InvalidEventError whose Reason (a Reason* constant) is the
//     dead-letter code published in the Strata-Error header.
//  2. The caller deduplicates event IDs, then calls Model.Apply(state, event,
//     now, out) with the time stamped on the Raft entry. Apply first advances
//     the state to now (firing any deadline that passed, Cause "timer"), folds
//     the event into the aggregates and re-evaluates every dimension; each
//     changed tier is appended to out as a Transition with its per-dimension
//     sequence number, reason code, cause and the scores at that instant.
//  3. The caller persists State.AppendBinary and indexes the user's timer at
//     Model.NextDue: the exact instant at which a tier would next change with
//     time alone (a user going silent, a purchase leaving the 365-day window,
//     a coupon leaving the 24-hour window, …).
//  4. When that instant has passed, the caller loads the state
//     (State.UnmarshalBinary) and calls Model.Advance(state, now, out), which
//     walks every deadline ≤ now in order and emits each transition at its
//     exact deadline, then re-indexes the timer at NextDue.
//  5. Reads use Model.Scores(state, now) and State.Tier.
//
// A State keeps no event list: activity is an exponentially decayed sum kept
// as (value, reference time); windows of days keep one bucket per UTC day
// (sorted, pruned outside the longest window); the fraud score keeps the
// newest coupon timestamps and per-minute event counts of the last hour.
// Events may arrive out of order, with ts up to Limits.MaxAge old.
//
// The default model (default@v1, see DefaultParams) has three dimensions:
// lifecycle (new, active, silent, churned, reactivated), value (none,
// long_tail, high_potential, whale) and risk (normal, watch, high). Its exact
// formulas, windows, deadlines and reason codes are documented in
// docs/model.md.
package scoring
