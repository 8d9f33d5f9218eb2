package bench

import (
	"testing"

	"github.com/hashicorp/go-hclog"
)

// The end-of-run check fails on any mis-count, whatever the timing.
func TestCheck(t *testing.T) {
	ok := Report{Replicas: 3, Sent: 100, ReplicaApplies: 300, SentUsers: 10, TieredUsers: 10, UsersChecked: true,
		Latency: Latency{Count: 100}}
	for _, tc := range []struct {
		name string
		edit func(*Report)
		ok   bool
	}{
		{"exact", func(*Report) {}, true},
		{"one apply lost", func(r *Report) { r.ReplicaApplies-- }, false},
		{"one apply twice", func(r *Report) { r.ReplicaApplies++ }, false},
		{"short after a snapshot restore", func(r *Report) { r.ReplicaApplies, r.SnapshotRestores = 250, 1 }, true},
		{"over after a snapshot restore", func(r *Report) { r.ReplicaApplies, r.SnapshotRestores = 301, 1 }, false},
		{"a user not tiered", func(r *Report) { r.TieredUsers-- }, false},
		{"users of a target not checked", func(r *Report) { r.TieredUsers, r.UsersChecked = 3, false }, true},
		{"an event not timed", func(r *Report) { r.Latency.Count-- }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			if err := check(r, hclog.NewNullLogger()); (err == nil) != tc.ok {
				t.Fatalf("check = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
