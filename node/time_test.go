package node_test

import (
	"fmt"
	"testing"
	"time"
)

const day = 24 * time.Hour

// advance moves the fake clock to t; the leader's next tick fires every timer
// due by then.
func (h *harness) advanceTo(t time.Time) { h.clock.Set(t) }

// expectTimer waits for user's transition to `to` in dim and checks it fired
// from a timer at exactly `at`.
func (h *harness) expectTimer(user, dim, from, to string, at time.Time) {
	h.t.Helper()
	tm := h.waitTransition(user, dim, from, to)
	if tm.Cause != "timer" || !tm.At.Equal(at) {
		h.t.Errorf("%s %s→%s: from %q cause %q at %s; want from %q cause timer at %s",
			user, dim, to, tm.From, tm.Cause, tm.At, from, at)
	}
}

// The lifecycle of one user, driven by event timestamps and the clock alone:
// new → active (first_seen+7d) → silent (idle 7d) → churned (idle 30d) →
// reactivated (returns) → active (7 days later), each at its exact instant.
func TestLifecycleTimers(t *testing.T) {
	h := newHarness(t)
	h.publish("lc", event("a", "lc", "login", t0, 0))
	if tm := h.waitTransition("lc", "lifecycle", "", "new"); tm.Cause != "a" {
		t.Fatalf("new: cause %q", tm.Cause)
	}
	h.advanceTo(t0.Add(3 * day))
	h.publish("lc", event("b", "lc", "view", t0.Add(3*day), 0))
	h.waitEvents("lc", 2) // applied at t0+3d, before the clock moves on

	h.advanceTo(t0.Add(7*day + time.Second))
	h.expectTimer("lc", "lifecycle", "new", "active", t0.Add(7*day)) // first_seen + 7d

	h.advanceTo(t0.Add(10*day + time.Second))
	h.expectTimer("lc", "lifecycle", "active", "silent", t0.Add(10*day)) // last_seen + 7d

	h.advanceTo(t0.Add(33*day + time.Second))
	h.expectTimer("lc", "lifecycle", "silent", "churned", t0.Add(33*day)) // last_seen + 30d

	back := t0.Add(40 * day)
	h.advanceTo(back)
	h.publish("lc", event("c", "lc", "purchase", back, 25))
	if tm := h.waitTransition("lc", "lifecycle", "churned", "reactivated"); tm.Cause != "c" || tm.Reason != "returned_after_churn" {
		t.Errorf("reactivated: %+v", tm)
	}
	h.advanceTo(back.Add(2 * day)) // still active, so the end of the reactivation period leads to active
	h.publish("lc", event("d", "lc", "login", back.Add(2*day), 0))
	h.waitEvents("lc", 4)
	h.advanceTo(back.Add(7*day + time.Second))
	h.expectTimer("lc", "lifecycle", "reactivated", "active", back.Add(7*day))

	var got []string
	for _, tm := range h.path("lc", "lifecycle") {
		got = append(got, tm.To)
	}
	if want := "[new active silent churned reactivated active]"; fmt.Sprint(got) != want {
		t.Errorf("lifecycle path %v, want %s", got, want)
	}
	if v := h.user("lc"); v.Tiers["lifecycle"] != "active" || v.Events != 4 {
		t.Errorf("user = %+v", v)
	}
	h.checkSeqs()
}

// A node that was down (clock jumped 40 days) catches up every deadline in
// order, each stamped with its exact instant.
func TestTimersCatchUpAfterGap(t *testing.T) {
	h := newHarness(t)
	h.publish("gap", event("a", "gap", "login", t0, 0))
	h.waitTransition("gap", "lifecycle", "", "new")
	h.advanceTo(t0.Add(40 * day))
	h.expectTimer("gap", "lifecycle", "silent", "churned", t0.Add(30*day))
	var got []string
	for _, tm := range h.path("gap", "lifecycle") {
		got = append(got, tm.To+"@"+tm.At.Sub(t0).String())
	}
	if want := "[new@0s silent@168h0m0s churned@720h0m0s]"; fmt.Sprint(got) != want {
		t.Errorf("path %v, want %s", got, want)
	}
}

// Value moves up with purchases, down with a refund, and down again when a
// purchase leaves the 365-day window at the UTC day boundary.
func TestValueTiers(t *testing.T) {
	h := newHarness(t)
	old := t0.Add(-360 * day)
	h.publish("v", event("p1", "v", "purchase", old, 45000))
	h.waitTransition("v", "value", "", "high_potential") // 45 000
	h.publish("v", event("p2", "v", "purchase", t0, 6000))
	h.waitTransition("v", "value", "high_potential", "whale") // 51 000
	h.publish("v", event("r1", "v", "refund", t0, 2000))
	if tm := h.waitTransition("v", "value", "whale", "high_potential"); tm.Cause != "r1" || tm.Scores.Monetary365d != 49000 {
		t.Errorf("refund: %+v", tm)
	}
	// p1's UTC day leaves the window 365 days after that day began: 4 000 remain.
	boundary := old.Truncate(day).Add(365 * day)
	h.advanceTo(boundary.Add(time.Second))
	h.expectTimer("v", "value", "high_potential", "long_tail", boundary)
	if v := h.user("v"); v.Scores.Monetary365d != 4000 || v.Tiers["value"] != "long_tail" {
		t.Errorf("after the window moved: %+v", v)
	}
	h.publish("v", event("r2", "v", "refund", boundary.Add(time.Second), 4000)) // refunds everything left
	if tm := h.waitTransition("v", "value", "long_tail", "none"); tm.Reason != "monetary_365d_le_0" {
		t.Errorf("refund to none: %+v", tm)
	}
	h.checkSeqs()
}

// Coupon farming raises risk to high; once the coupons leave the 24-hour
// window a timer brings the user back to normal.
func TestRiskCouponFarming(t *testing.T) {
	h := newHarness(t)
	for i := range 12 {
		ts := t0.Add(-time.Duration(30-i) * time.Minute)
		h.publish("farm", event(fmt.Sprintf("c%d", i), "farm", "coupon", ts, 0))
	}
	h.waitEvents("farm", 12)
	h.waitTransition("farm", "risk", "watch", "high")
	var path []string
	for _, tm := range h.path("farm", "risk") {
		path = append(path, tm.To)
	}
	if fmt.Sprint(path) != "[normal watch high]" { // coupons one by one: 8 make watch, 10 make high
		t.Errorf("risk path %v", path)
	}
	h.advanceTo(t0.Add(25 * time.Hour))
	// Coupons leave the 24-hour window one minute apart: high → watch → normal.
	tm := h.waitTransition("farm", "risk", "watch", "normal")
	if tm.Cause != "timer" {
		t.Errorf("back to normal: cause %q", tm.Cause)
	}
	if v := h.user("farm"); v.Tiers["risk"] != "normal" || v.Events != 12 {
		t.Errorf("user = %+v", v)
	}
	h.checkSeqs()
}
