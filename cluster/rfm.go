package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
	"github.com/hashicorp/raft"

	"github.com/strata-io/strata/scoring"
)

// RFM quintiles over the whole population. Each shard keeps sketches of its
// buyers' recency, frequency and monetary measures (scoring.RFMValues),
// updated in the same Pebble batch as the user states; the control leader
// merges every shard's sketches every RFMInterval and, when the quintile
// edges moved, puts the new edges into the control state; shard leaders
// carry them into their logs (kindRFM) and re-evaluate their users (a
// sweep) when a model reads rfm. So RFM scores are replicated inputs, the
// same on every replica, never a local read.
//
// Recency is kept by UTC day in a dense store (exact at day resolution: a
// relative-accuracy sketch of day numbers near 20 000 would be off by
// months); frequency and monetary in DDSketches with 1% relative accuracy,
// shifted by one so that 0 is indexable. Users leave their bins when their
// values change: the stores take negative counts, and every count stays a
// whole number, so the sums are exact and the encodings deterministic.

const rfmAccuracy = 0.01

// rfmSketch is one shard's (or the cluster's merged) sketch of its buyers.
type rfmSketch struct {
	recency   *store.DenseStore // by UTC day
	frequency *ddsketch.DDSketch
	monetary  *ddsketch.DDSketch
	buyers    int64
}

func newRFMSketch() *rfmSketch {
	m, err := mapping.NewLogarithmicMapping(rfmAccuracy)
	if err != nil { // a constant accuracy: cannot fail
		panic(err)
	}
	return &rfmSketch{
		recency:   store.NewDenseStore(),
		frequency: ddsketch.NewDDSketch(m, store.NewDenseStore(), store.NewDenseStore()),
		monetary:  ddsketch.NewDDSketch(m, store.NewDenseStore(), store.NewDenseStore()),
	}
}

// add counts a buyer's measures with weight delta (+1 to add, −1 to remove).
func (k *rfmSketch) add(r, f, m float64, delta float64) {
	k.recency.AddWithCount(int(r), delta)
	k.frequency.GetPositiveValueStore().AddWithCount(k.frequency.Index(f+1), delta)
	k.monetary.GetPositiveValueStore().AddWithCount(k.monetary.Index(min(m+1, k.monetary.MaxIndexableValue())), delta)
	k.buyers += int64(delta)
}

// move replaces a user's measures before (ok: it was a buyer) by after.
func (k *rfmSketch) move(before, after rfmValues) bool {
	if before == after {
		return false
	}
	if before.ok {
		k.add(before.r, before.f, before.m, -1)
	}
	if after.ok {
		k.add(after.r, after.f, after.m, 1)
	}
	return true
}

type rfmValues struct {
	r, f, m float64
	ok      bool
}

func rfmOf(s *scoring.State) rfmValues {
	r, f, m, ok := s.RFMValues()
	return rfmValues{r, f, m, ok}
}

func (k *rfmSketch) merge(o *rfmSketch) {
	k.recency.MergeWith(o.recency)
	k.frequency.GetPositiveValueStore().MergeWith(o.frequency.GetPositiveValueStore())
	k.monetary.GetPositiveValueStore().MergeWith(o.monetary.GetPositiveValueStore())
	k.buyers += o.buyers
}

// appendRFMSketch encodes k: uvarint buyers, then per store uvarint n and
// n × (varint index, varint count) for its non-empty bins, ascending.
func appendRFMSketch(b []byte, k *rfmSketch) []byte {
	b = binary.AppendUvarint(b, uint64(max(k.buyers, 0)))
	for _, s := range []store.Store{k.recency, k.frequency.GetPositiveValueStore(), k.monetary.GetPositiveValueStore()} {
		b = appendStore(b, s)
	}
	return b
}

// maxRFMBins bounds the bins of one decoded store.
const maxRFMBins = 1 << 20

func decodeRFMSketch(b []byte) (*rfmSketch, error) {
	k := newRFMSketch()
	d := decoder{b: b}
	k.buyers = int64(d.uvarint("buyers"))
	for _, s := range []store.Store{k.recency, k.frequency.GetPositiveValueStore(), k.monetary.GetPositiveValueStore()} {
		decodeStore(&d, s)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, fmt.Errorf("cluster: rfm sketch: %w", d.err)
	}
	return k, nil
}

// edges returns the quintile edges of the sketch.
func (k *rfmSketch) edges() scoring.RFMEdges {
	e := scoring.RFMEdges{Buyers: k.buyers}
	total := k.recency.TotalCount()
	if k.buyers <= 0 || total <= 0 {
		return scoring.RFMEdges{}
	}
	for i, q := range []float64{0.2, 0.4, 0.6, 0.8} {
		e.Recency[i] = float64(k.recency.KeyAtRank(q * (total - 1)))
		f, err1 := k.frequency.GetValueAtQuantile(q)
		m, err2 := k.monetary.GetValueAtQuantile(q)
		if err1 != nil || err2 != nil {
			return scoring.RFMEdges{}
		}
		// Purchases are whole numbers: round the sketch's estimate (within
		// 1%) to one; money keeps cents.
		e.Frequency[i] = math.Max(math.Round(f)-1, 0)
		e.Monetary[i] = math.Max(math.Round((m-1)*100)/100, 0)
	}
	return e
}

// RFMState is the cluster's current RFM edges (control state).
type RFMState struct {
	Generation uint64           `json:"generation"`
	Edges      scoring.RFMEdges `json:"edges"`
	At         int64            `json:"at,omitempty"` // Unix ms they were computed
}

// rfmLoop refreshes the cluster's RFM edges every RFMInterval while this
// node leads the control group.
func (c *Cluster) rfmLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.RFMInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c.ctrlRaft.State() != raft.Leader {
			continue
		}
		if err := c.refreshRFM(ctx); err != nil && ctx.Err() == nil {
			c.log.Debug("rfm refresh", "error", err)
		}
	}
}

// refreshRFM merges every shard's sketch and proposes the edges if they
// moved.
func (c *Cluster) refreshRFM(ctx context.Context) error {
	all := newRFMSketch()
	for i := 0; i < c.NumShards(); i++ {
		k, err := c.shardSketch(ctx, uint16(i))
		if err != nil {
			return err
		}
		all.merge(k)
	}
	edges := all.edges()
	cur := c.ctrl.State().RFM
	if cur.Generation > 0 && cur.Edges == edges {
		return nil
	}
	if cur.Generation == 0 && edges.Buyers == 0 {
		return nil
	}
	_, err := c.proposeControl(controlCmd{Op: "rfm", RFM: &RFMState{Edges: edges, At: c.deps.Clock.Now().UnixMilli()}})
	return err
}

func (c *Cluster) shardSketch(ctx context.Context, shard uint16) (*rfmSketch, error) {
	if b, err := c.localSketch(shard); err == nil {
		return decodeRFMSketch(b)
	}
	var errs []error
	for _, id := range c.routeCandidates(shard, nil) {
		cctx, cancel := context.WithTimeout(ctx, c.cfg.ProposeTimeout)
		resp, err := c.call(cctx, c.nodeAddr(id), &rpcReq{Op: "sketch", Shard: shard})
		cancel()
		if err == nil {
			return decodeRFMSketch(resp.Sketch)
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("cluster: rfm sketch of shard %d: %w", shard, errors.Join(append(errs, ErrNoReplica)...))
}

func (c *Cluster) localSketch(shard uint16) ([]byte, error) {
	s := c.Shard(int(shard))
	if s == nil {
		return nil, fmt.Errorf("cluster: no replica of shard %d here", shard)
	}
	return s.FSM().Sketch(), nil
}

// Sketch returns the shard's RFM sketch as of the last commit, encoded
// (any goroutine).
func (f *FSM) Sketch() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.sketch
}

// loadSketch reads the shard's RFM sketch; a shard without one (data from
// before RFM) builds it from its users' states once.
func (f *FSM) loadSketch() error {
	f.rfmDirty = false
	b, found, err := f.store.Sketch(nil)
	if err != nil {
		return err
	}
	if found {
		if f.rfm, err = decodeRFMSketch(b); err != nil {
			return fmt.Errorf("cluster: shard %d: %w", f.cfg.Shard, err)
		}
	} else {
		f.rfm = newRFMSketch()
		var s scoring.State
		err := f.store.Users(func(user string, v []byte) error {
			if _, err := decodeEnvelope(v, nil, &s); err != nil {
				return fmt.Errorf("user %q: %w", user, err)
			}
			if r := rfmOf(&s); r.ok {
				f.rfm.add(r.r, r.f, r.m, 1)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("cluster: shard %d rfm sketch: %w", f.cfg.Shard, err)
		}
		f.rfmDirty = f.rfm.buyers > 0
		b = appendRFMSketch(nil, f.rfm)
	}
	f.mu.Lock()
	f.mu.sketch = b
	f.mu.Unlock()
	return nil
}

// rfmReader is a model whose rules may read RFM scores.
type rfmReader interface {
	// SetRFM sets the edges its RFM scores are computed with.
	SetRFM(e scoring.RFMEdges)
	// ReadsRFM reports whether any of its rules reads rfm.
	ReadsRFM() bool
	// Reevaluate places the user at now (no event, no deadline) and
	// appends the transitions, with cause.
	Reevaluate(s *scoring.State, now int64, cause string, out []scoring.Transition) []scoring.Transition
}

// CauseRFM is the cause of transitions made by new RFM edges.
const CauseRFM = "rfm"

// readsRFM reports whether the active or the shadow model reads RFM.
func (f *FSM) readsRFM() bool {
	for _, m := range []Model{f.active, f.candidate} {
		if r, ok := m.(rfmReader); ok && r.ReadsRFM() {
			return true
		}
	}
	return false
}

// applyRFM takes new population edges: the models read them from now on,
// and a sweep re-evaluates every user if a model reads them.
func (f *FSM) applyRFM(st *RFMState) error {
	if st.Generation <= f.rec.RFMGeneration || !st.Edges.Valid() {
		return nil
	}
	f.rec.RFM, f.rec.RFMGeneration = st.Edges, st.Generation
	f.setActive()
	if f.readsRFM() {
		f.rec.Sweeping, f.rec.SweepAfter, f.rec.Reeval = true, "", true
	}
	f.recDirty = true
	f.writeBatch()
	return nil
}

// reevaluate places u afresh under the current edges; it reports whether
// anything changed.
func (f *FSM) reevaluate(user string, u *userState) bool {
	changed := false
	if r, ok := f.active.(rfmReader); ok && r.ReadsRFM() && u.s.Events() > 0 {
		f.origin = 0
		f.countMoves(u, -1)
		f.trans = r.Reevaluate(&u.s, f.now, CauseRFM, f.trans[:0])
		if err := f.emit(user, u, f.active.Name(), f.trans, true); err != nil {
			f.fatal("re-evaluate user", err)
		}
		changed = len(f.trans) > 0
		f.countMoves(u, 1)
	}
	if r, ok := f.candidate.(rfmReader); ok && r.ReadsRFM() && u.shadowGen != 0 && u.sh().Events() > 0 {
		f.countMoves(u, -1)
		f.trans = r.Reevaluate(u.sh(), f.now, CauseRFM, f.trans[:0])
		f.countShadow(f.trans)
		changed = changed || len(f.trans) > 0
		f.countMoves(u, 1)
	}
	return changed
}

// rfmEdges returns the RFM edges the shard follows (any goroutine).
func (f *FSM) rfmEdges() scoring.RFMEdges {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.rfm
}
