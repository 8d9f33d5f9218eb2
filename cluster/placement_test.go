package cluster

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// planUntilStable applies planNext's changes until it proposes none and
// returns how many it made; it fails if that takes too long (oscillation).
func planUntilStable(t *testing.T, st *ControlState, alive, dead map[string]bool) int {
	t.Helper()
	v := &planView{state: st, alive: alive, dead: dead, settled: func(int) bool { return true }}
	for n := 0; ; n++ {
		shard, nodes, ok := planNext(v)
		if !ok {
			return n
		}
		if n > 20*len(st.Placement) {
			t.Fatalf("planner does not converge: still moving shard %d to %v after %d changes", shard, nodes, n)
		}
		cmd := controlCmd{Op: "place", Base: st.Version, Shard: shard, Nodes: nodes}
		if err := st.apply(&cmd); err != nil {
			t.Fatalf("planned change refused: %v", err)
		}
		st.Version++
	}
}

func newState(shards, replicas int, nodes ...string) *ControlState {
	st := &ControlState{Shards: shards, Replicas: replicas, Nodes: map[string]*NodeInfo{}}
	for _, id := range nodes {
		st.Nodes[id] = &NodeInfo{ID: id, RaftAddr: id + ":7400", Status: NodeActive}
	}
	for range shards {
		st.Placement = append(st.Placement, []string{nodes[0]})
	}
	return st
}

func all(ids ...string) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// checkBalanced: every shard on want distinct eligible nodes; replica and
// preferred-leader counts of eligible nodes differ by at most one.
func checkBalanced(t *testing.T, st *ControlState, eligible []string, want int) {
	t.Helper()
	load, first := map[string]int{}, map[string]int{}
	for i, p := range st.Placement {
		if len(p) != want {
			t.Fatalf("shard %d on %v, want %d replicas", i, p, want)
		}
		seen := map[string]bool{}
		for _, id := range p {
			if seen[id] || !slices.Contains(eligible, id) {
				t.Fatalf("shard %d on %v: duplicate or ineligible node %s", i, p, id)
			}
			seen[id] = true
			load[id]++
		}
		first[p[0]]++
	}
	spread := func(m map[string]int) int {
		lo, hi := 1<<30, 0
		for _, id := range eligible {
			lo, hi = min(lo, m[id]), max(hi, m[id])
		}
		return hi - lo
	}
	if spread(load) > 1 || spread(first) > 1 {
		t.Fatalf("unbalanced: replicas %v, preferred leaders %v", load, first)
	}
}

func TestPlanGrowsAndBalances(t *testing.T) {
	for _, tc := range []struct{ shards, replicas, nodes int }{
		{8, 3, 1}, {8, 3, 2}, {8, 3, 3}, {8, 3, 4}, {16, 3, 5}, {7, 1, 3}, {4, 5, 3},
	} {
		t.Run(fmt.Sprintf("%d shards R%d on %d nodes", tc.shards, tc.replicas, tc.nodes), func(t *testing.T) {
			var ids []string
			for i := 1; i <= tc.nodes; i++ {
				ids = append(ids, fmt.Sprintf("n%d", i))
			}
			st := newState(tc.shards, tc.replicas, ids...)
			planUntilStable(t, st, all(ids...), all())
			checkBalanced(t, st, ids, min(tc.replicas, tc.nodes))
		})
	}
}

func TestPlanRepairs(t *testing.T) {
	ids := []string{"n1", "n2", "n3", "n4"}
	st := newState(8, 3, ids...)
	planUntilStable(t, st, all(ids...), all())

	// n2 leaves: its replicas move to the others, nothing else is placed on it.
	st.Nodes["n2"].Status = NodeLeaving
	planUntilStable(t, st, all(ids...), all())
	checkBalanced(t, st, []string{"n1", "n3", "n4"}, 3)

	// n3 is dead: with only n1 and n4 eligible, shards keep 2 live replicas.
	planUntilStable(t, st, all("n1", "n4"), all("n3"))
	checkBalanced(t, st, []string{"n1", "n4"}, 2)

	// n3 returns and n2 rejoins: full replication and balance again.
	st.Nodes["n2"].Status = NodeActive
	planUntilStable(t, st, all(ids...), all())
	checkBalanced(t, st, ids, 3)
}

// A node that is down but not yet dead keeps its replicas (no churn for a
// restart) but loses its preferred leaderships.
func TestPlanDownNodeKeepsReplicas(t *testing.T) {
	ids := []string{"n1", "n2", "n3"}
	st := newState(6, 3, ids...)
	planUntilStable(t, st, all(ids...), all())
	planUntilStable(t, st, all("n1", "n2"), all())
	for i, p := range st.Placement {
		if !slices.Contains(p, "n3") || p[0] == "n3" {
			t.Fatalf("shard %d: %v", i, p)
		}
	}
}

// Random sequences of joins, leaves, deaths and returns always converge to
// a balanced placement of the eligible nodes.
func TestPlanRandomMembership(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for round := range 200 {
		st := newState(1+rng.IntN(12), 1+rng.IntN(4), "n0")
		alive, dead := all("n0"), all()
		for step := range 6 {
			id := fmt.Sprintf("n%d", rng.IntN(6))
			switch rng.IntN(4) {
			case 0: // join or return
				if st.Nodes[id] == nil {
					st.Nodes[id] = &NodeInfo{ID: id, Status: NodeActive}
				}
				alive[id], dead[id] = true, false
			case 1: // leave
				if n := st.Nodes[id]; n != nil && n.Status == NodeActive {
					n.Status = NodeLeaving
				}
			case 2: // dies
				alive[id], dead[id] = false, true
			case 3: // down for a moment
				alive[id] = false
			}
			planUntilStable(t, st, alive, dead)
			var elig []string
			for _, nid := range st.NodeIDs() {
				if st.Nodes[nid].Status == NodeActive && alive[nid] && !dead[nid] {
					elig = append(elig, nid)
				}
			}
			if len(elig) == 0 || len(elig) < st.Replicas {
				continue // too few nodes: nothing to check beyond convergence
			}
			for i, p := range st.Placement {
				if len(p) < st.Replicas {
					t.Fatalf("round %d step %d: shard %d on %v", round, step, i, p)
				}
			}
		}
	}
}
