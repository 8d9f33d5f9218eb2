package cluster

import (
	"slices"
)

// planView is what the control leader knows when it plans placement.
type planView struct {
	state *ControlState
	// alive: heard from within DownAfter. dead: silent for ReplaceAfter.
	alive, dead map[string]bool
	// settled reports whether a shard's Raft configuration matches its
	// placement (every placed node a voter, nothing else).
	settled func(shard int) bool
}

// eligible returns the nodes that may receive replicas, sorted.
func (v *planView) eligible() []string {
	var out []string
	for _, id := range v.state.NodeIDs() {
		n := v.state.Nodes[id]
		if n.Status == NodeActive && v.alive[id] && !v.dead[id] {
			out = append(out, id)
		}
	}
	return out
}

// planNext returns the next placement change, if any: repairs first (nodes
// gone, dead or leaving; too few replicas), then replica balance, then
// leader balance. Applying its changes one at a time converges: balance
// moves only when two nodes differ by more than one.
func planNext(v *planView) (shard int, nodes []string, ok bool) {
	st := v.state
	elig := v.eligible()
	if len(elig) == 0 {
		return 0, nil, false
	}
	want := min(st.Replicas, len(elig))
	load := map[string]int{}
	for _, p := range st.Placement {
		for _, id := range p {
			load[id]++
		}
	}
	// least returns the least loaded eligible node not in exclude.
	least := func(exclude []string) string {
		best := ""
		for _, id := range elig {
			if slices.Contains(exclude, id) {
				continue
			}
			if best == "" || load[id] < load[best] {
				best = id
			}
		}
		return best
	}
	for i, cur := range st.Placement {
		next := make([]string, 0, len(cur)+1)
		var leaving []string
		for _, id := range cur {
			n := st.Nodes[id]
			switch {
			case n == nil || n.Status == NodeLeft || v.dead[id]:
			case n.Status == NodeLeaving:
				leaving = append(leaving, id)
			default:
				next = append(next, id)
			}
		}
		if len(next) == 0 && len(leaving) == 0 {
			continue // every copy is on dead nodes: wait for one to return
		}
		for len(next) < want {
			id := least(append(slices.Clone(next), leaving...))
			if id == "" {
				break
			}
			next = append(next, id)
			load[id]++
		}
		if len(next) == 0 {
			next = leaving // nowhere to move yet
		}
		if !slices.Equal(next, cur) {
			return i, next, true
		}
	}
	for i := range st.Placement {
		if !v.settled(i) {
			return 0, nil, false // let membership changes finish before moving more
		}
	}
	// Replica balance: one move from the most to the least loaded node.
	hi, lo := elig[0], elig[0]
	for _, id := range elig {
		if load[id] > load[hi] {
			hi = id
		}
		if load[id] < load[lo] {
			lo = id
		}
	}
	if load[hi]-load[lo] > 1 {
		best := -1
		for i, p := range st.Placement {
			if !slices.Contains(p, hi) || slices.Contains(p, lo) {
				continue
			}
			if best < 0 || (st.Placement[best][0] == hi && p[0] != hi) {
				best = i
			}
		}
		if best >= 0 {
			next := slices.Clone(st.Placement[best])
			next[slices.Index(next, hi)] = lo
			return best, next, true
		}
	}
	// Leader balance: the first replica is the preferred leader.
	firsts := map[string]int{}
	for _, p := range st.Placement {
		if len(p) > 0 {
			firsts[p[0]]++
		}
	}
	isElig := func(id string) bool { return slices.Contains(elig, id) }
	for i, p := range st.Placement {
		if len(p) < 2 || isElig(p[0]) {
			continue
		}
		// The preferred leader is down: prefer the least-leading eligible replica.
		best := -1
		for j := 1; j < len(p); j++ {
			if isElig(p[j]) && (best < 0 || firsts[p[j]] < firsts[p[best]]) {
				best = j
			}
		}
		if best > 0 {
			return i, moveFront(p, best), true
		}
	}
	for i, p := range st.Placement {
		if len(p) < 2 {
			continue
		}
		for j := 1; j < len(p); j++ {
			if isElig(p[j]) && firsts[p[j]]+1 < firsts[p[0]] {
				return i, moveFront(p, j), true
			}
		}
	}
	return 0, nil, false
}

func moveFront(p []string, j int) []string {
	out := make([]string, 0, len(p))
	out = append(out, p[j])
	for k, id := range p {
		if k != j {
			out = append(out, id)
		}
	}
	return out
}
