package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/strata-io/strata/storage"
)

// ControlGroup is the storage and transport ID of the control Raft group:
// membership and placement, replicated on up to maxControlVoters nodes.
const ControlGroup uint16 = 0xFFFF

// Node statuses in the control state (external contract: GET /v1/cluster).
const (
	NodeActive  = "active"  // holds replicas and may receive more
	NodeLeaving = "leaving" // replicas move off; then removed from the control group
	NodeLeft    = "left"    // holds nothing; may be stopped and wiped
)

// NodeInfo is one member of the cluster.
type NodeInfo struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr,omitempty"`
	Status   string `json:"status"`
}

// ControlState is the replicated membership and placement. Placement[i]
// lists the nodes holding shard i; the first is its preferred leader.
type ControlState struct {
	Version   uint64               `json:"version"`
	Shards    int                  `json:"shards"`
	Replicas  int                  `json:"replicas"`
	Nodes     map[string]*NodeInfo `json:"nodes"`
	Placement [][]string           `json:"placement"`
	// Models is the intended tier models (see ModelPlan).
	Models ModelPlan `json:"models"`
	// RFM is the population's current RFM quintile edges (rfm.go).
	RFM RFMState `json:"rfm"`
}

// clone returns a deep copy.
func (s *ControlState) clone() *ControlState {
	c := &ControlState{Version: s.Version, Shards: s.Shards, Replicas: s.Replicas,
		Nodes: make(map[string]*NodeInfo, len(s.Nodes)), Placement: make([][]string, len(s.Placement)),
		Models: s.Models.clone(), RFM: s.RFM}
	for id, n := range s.Nodes {
		cp := *n
		c.Nodes[id] = &cp
	}
	for i, p := range s.Placement {
		c.Placement[i] = slices.Clone(p)
	}
	return c
}

// Initialized reports whether the cluster has been formed.
func (s *ControlState) Initialized() bool { return s.Shards > 0 }

// NodeIDs returns the member IDs in order.
func (s *ControlState) NodeIDs() []string {
	ids := make([]string, 0, len(s.Nodes))
	for id := range s.Nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Holds reports whether node is placed on shard.
func (s *ControlState) Holds(node string, shard int) bool {
	return shard < len(s.Placement) && slices.Contains(s.Placement[shard], node)
}

// controlCmd is one control log entry (JSON; small and rare).
type controlCmd struct {
	Op        string       `json:"op"`                  // init, join, addr, status, place, model
	Base      uint64       `json:"base,omitempty"`      // place: state version it was planned on
	Shards    int          `json:"shards,omitempty"`    // init
	Replicas  int          `json:"replicas,omitempty"`  // init
	Node      *NodeInfo    `json:"node,omitempty"`      // init, node
	Shard     int          `json:"shard,omitempty"`     // place
	Nodes     []string     `json:"nodes,omitempty"`     // place
	Placement [][]string   `json:"placement,omitempty"` // init
	From      string       `json:"from,omitempty"`      // status: the status it must have now
	Model     *ModelChange `json:"model,omitempty"`     // model
	RFM       *RFMState    `json:"rfm,omitempty"`       // rfm
}

// errStalePlan is the response to a place command planned on an old state.
var errStalePlan = errors.New("cluster: placement planned on a stale control state")

// controlFSM applies control commands. Its state is small: it lives in
// memory and is persisted whole, with its applied index, in the control
// group's stable store after every entry (so a restart needs no replay and
// no quorum to know the placement).
type controlFSM struct {
	store *storage.RaftStore
	log   hclog.Logger

	mu      sync.RWMutex
	state   *ControlState
	applied uint64
	changed chan struct{} // closed and replaced on every change
}

var controlStateKey = []byte("strata.control.state")

type persistedControl struct {
	Applied uint64        `json:"applied"`
	State   *ControlState `json:"state"`
}

func newControlFSM(store *storage.RaftStore, log hclog.Logger) (*controlFSM, error) {
	f := &controlFSM{store: store, log: log, state: &ControlState{Nodes: map[string]*NodeInfo{}},
		changed: make(chan struct{})}
	b, err := store.Get(controlStateKey)
	if err != nil && !errors.Is(err, storage.ErrKeyNotFound) {
		return nil, fmt.Errorf("cluster: control state: %w", err)
	}
	if len(b) > 0 {
		var p persistedControl
		if err := json.Unmarshal(b, &p); err != nil || p.State == nil {
			return nil, fmt.Errorf("cluster: control state is corrupt: %v", err)
		}
		if p.State.Nodes == nil {
			p.State.Nodes = map[string]*NodeInfo{}
		}
		f.state, f.applied = p.State, p.Applied
	}
	return f, nil
}

// State returns a copy of the current state.
func (f *controlFSM) State() *ControlState {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.clone()
}

// Changed returns a channel closed at the next change.
func (f *controlFSM) Changed() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.changed
}

func (f *controlFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l.Index <= f.applied {
		return nil
	}
	var cmd controlCmd
	var resp any
	if err := json.Unmarshal(l.Data, &cmd); err != nil {
		resp = fmt.Errorf("cluster: bad control entry %d: %w", l.Index, err)
	} else {
		next := f.state.clone()
		if resp = next.apply(&cmd); resp == nil {
			next.Version++
			f.state = next
		}
	}
	f.applied = l.Index
	f.persistLocked()
	close(f.changed)
	f.changed = make(chan struct{})
	return resp
}

// apply changes s by cmd or returns why it cannot (s is then unchanged by
// contract: callers apply to a clone).
func (s *ControlState) apply(c *controlCmd) error {
	switch c.Op {
	case "init":
		if s.Initialized() {
			return errors.New("cluster: already initialized")
		}
		if c.Shards < 1 || c.Replicas < 1 || c.Node == nil || len(c.Placement) != c.Shards {
			return errors.New("cluster: bad init")
		}
		s.Shards, s.Replicas = c.Shards, c.Replicas
		n := *c.Node
		s.Nodes[n.ID] = &n
		s.Placement = c.Placement
	case "join":
		// A new member, or a known one coming back (with new addresses).
		if c.Node == nil || c.Node.ID == "" {
			return errors.New("cluster: join without node")
		}
		if old := s.Nodes[c.Node.ID]; old != nil && old.Status == NodeLeaving {
			return fmt.Errorf("cluster: node %s is leaving", c.Node.ID)
		}
		n := *c.Node
		n.Status = NodeActive
		s.Nodes[n.ID] = &n
	case "addr":
		n := s.Nodes[nodeID(c.Node)]
		if n == nil || c.Node.RaftAddr == "" {
			return errors.New("cluster: address update of an unknown node")
		}
		n.RaftAddr, n.HTTPAddr = c.Node.RaftAddr, c.Node.HTTPAddr
	case "status":
		n := s.Nodes[nodeID(c.Node)]
		if n == nil || n.Status != c.From {
			return fmt.Errorf("cluster: node %s is not %s", nodeID(c.Node), c.From)
		}
		n.Status = c.Node.Status
	case "place":
		if c.Base != s.Version {
			return errStalePlan
		}
		if c.Shard < 0 || c.Shard >= s.Shards || len(c.Nodes) == 0 {
			return errors.New("cluster: bad placement")
		}
		for _, id := range c.Nodes {
			if s.Nodes[id] == nil {
				return fmt.Errorf("cluster: placement on unknown node %q", id)
			}
		}
		s.Placement[c.Shard] = slices.Clone(c.Nodes)
	case "rfm":
		if c.RFM == nil || !c.RFM.Edges.Valid() {
			return errors.New("cluster: rfm op without valid edges")
		}
		s.RFM = RFMState{Generation: s.RFM.Generation + 1, Edges: c.RFM.Edges, At: c.RFM.At}
	case "model":
		if c.Model == nil {
			return errors.New("cluster: model op without a change")
		}
		return s.Models.apply(c.Model)
	default:
		return fmt.Errorf("cluster: unknown control op %q", c.Op)
	}
	return nil
}

func (f *controlFSM) persistLocked() {
	b, err := json.Marshal(persistedControl{Applied: f.applied, State: f.state})
	if err == nil {
		err = f.store.Set(controlStateKey, b)
	}
	if err != nil {
		// Diverging from the log is worse than stopping (RELIABILITY trap 2).
		f.log.Error("persisting control state failed", "error", err)
		panic(fmt.Sprintf("cluster: persist control state: %v", err))
	}
}

func (f *controlFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, err := json.Marshal(f.state)
	if err != nil {
		return nil, err
	}
	return controlSnapshot(b), nil
}

func (f *controlFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var s ControlState
	dec := json.NewDecoder(rc)
	if err := dec.Decode(&s); err != nil {
		return fmt.Errorf("cluster: control snapshot: %w", err)
	}
	if s.Nodes == nil {
		s.Nodes = map[string]*NodeInfo{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state = &s
	// The snapshot's index is not handed to Restore; entries after it are
	// re-applied and overwrite the same fields, so keeping the applied index
	// at 0 here only means they are not skipped.
	f.applied = 0
	f.persistLocked()
	close(f.changed)
	f.changed = make(chan struct{})
	return nil
}

type controlSnapshot []byte

func (s controlSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := io.Copy(sink, bytes.NewReader(s)); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (controlSnapshot) Release() {}

func nodeID(n *NodeInfo) string {
	if n == nil {
		return ""
	}
	return n.ID
}
