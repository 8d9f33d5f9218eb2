package cluster

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/strata-io/strata/scoring"
	"github.com/strata-io/strata/storage"
)

// A shard's tier models. The control group holds the cluster's ModelPlan;
// each shard leader proposes it into its shard's log (kindModel), so every
// replica changes models at the same index. Users move lazily and by a
// sweep: a user's stored state names the model generation it is under, and
// the FSM reconciles a user with the shard's plan whenever it touches it
// (an event, a timer, a sweep step). A sweep walks every user of the shard
// in bounded steps (kindSweep entries) after each change, so that old
// models can be forgotten and shadow tiers cover every user.

// shardModels is a shard's replicated model record (storage "models" key).
type shardModels struct {
	// Generation is the plan generation the shard follows.
	Generation uint64 `json:"generation"`
	// Models are the generations a stored state may be under, ascending.
	Models []modelEntry `json:"models"`
	Active uint64       `json:"active"`
	// Candidate is the shadow model's generation; 0: none.
	Candidate uint64 `json:"candidate,omitempty"`
	// Sweeping says that users after SweepAfter may still be under
	// another model than the plan's (or lack a current shadow state).
	Sweeping   bool   `json:"sweeping,omitempty"`
	SweepAfter string `json:"sweep_after,omitempty"`
	// Reeval: the sweep also re-evaluates every user at its step's time
	// (the RFM edges moved under a model that reads them).
	Reeval bool `json:"reeval,omitempty"`
	// RFM are the population's RFM edges the shard's models read, and the
	// control state's RFM generation they came with.
	RFM           scoring.RFMEdges `json:"rfm"`
	RFMGeneration uint64           `json:"rfm_generation,omitempty"`
}

// modelEntry is one model generation of a shard.
type modelEntry struct {
	Gen    uint64       `json:"gen"`
	Source *ModelSource `json:"source,omitempty"` // nil: the built-in model
	// Since is when the model became active (Unix ms of the entry that made
	// it so): a user still under an older model is moved at that instant.
	Since int64  `json:"since,omitempty"`
	Mode  string `json:"mode,omitempty"` // emit or rebaseline, once active
}

// Count kinds: users per tier under the active model, under the shadow
// model, and pairs (active tier, shadow tier) per shadow dimension.
const (
	countActive byte = 'a'
	countShadow byte = 's'
	countMove   byte = 'm'
)

// hourKeep is how many hours of transition counts a shard keeps: a ring of
// slots by hour, each holding the newest hour that fell on it. It depends
// only on the sequence of transitions, never on when commits happen, so
// every replica holds the same counts however its entries were batched.
const hourKeep = 48

// hourCount is one slot of the hourly ring: transitions of a dimension
// whose instant fell in hour Hour (Unix hours).
type hourCount struct {
	Dim  string `json:"d"`
	Hour int64  `json:"h"`
	N    int64  `json:"n"`
}

type hourSlot struct {
	dim  string
	slot int64
}

// countHourly counts a transition of dim at instant at (Unix ms).
func (f *FSM) countHourly(dim string, at int64) {
	h := at / 3_600_000
	k := hourSlot{dim, h % hourKeep}
	c := f.hourly[k]
	switch {
	case c.Hour > h:
		return // older than what the slot holds: out of the window
	case c.Hour < h:
		c = hourCount{Dim: dim, Hour: h}
	}
	c.N++
	f.hourly[k] = c
	f.countsDirty = true
}

type countKey struct {
	kind          byte
	dim, from, to string // active/shadow: to is the tier; move: from → to
}

type tierCount struct {
	Kind string `json:"k"`
	Dim  string `json:"d"`
	From string `json:"f,omitempty"`
	To   string `json:"t"`
	N    int64  `json:"n"`
}

// userState is one user's states, as the FSM's actors hold them: the state
// under model generation gen and, while a model runs in shadow, the state
// under the candidate's generation (shadowGen; 0: none).
type userState struct {
	gen       uint64
	s         scoring.State
	shadowGen uint64
	shadow    *scoring.State // nil while the user has no shadow state (see sh)
	// hist counts the transitions recorded in the user's history.
	hist uint64
	// retired keeps the last seq of dimensions the user had under earlier
	// models but not under its current one, by name: if a later model has
	// the dimension again its seqs continue (Nats-Msg-Ids never repeat).
	retired []retiredSeq
	// shadowGone: a shadow state is stored and must be deleted.
	shadowGone bool
}

type retiredSeq struct {
	dim string
	seq uint64
}

// sh returns the user's shadow state, allocating it on first use: users
// carry no shadow state outside shadow periods.
func (u *userState) sh() *scoring.State {
	if u.shadow == nil {
		u.shadow = new(scoring.State)
	}
	return u.shadow
}

func (u *userState) reset() {
	u.s.Reset()
	u.shadow = nil
	u.gen, u.shadowGen, u.hist, u.shadowGone = 0, 0, 0, false
	u.retired = u.retired[:0]
}

// takeRetired returns and forgets the retired seq of dim (0 if none).
func (u *userState) takeRetired(dim string) uint64 {
	for i, r := range u.retired {
		if r.dim == dim {
			u.retired = slices.Delete(u.retired, i, i+1)
			return r.seq
		}
	}
	return 0
}

// retire records the last seq of a dimension the user leaves.
func (u *userState) retire(dim string, seq uint64) {
	if seq == 0 {
		return
	}
	i, found := slices.BinarySearchFunc(u.retired, dim, func(r retiredSeq, d string) int { return strings.Compare(r.dim, d) })
	if found {
		u.retired[i].seq = max(u.retired[i].seq, seq)
		return
	}
	u.retired = slices.Insert(u.retired, i, retiredSeq{dim, seq})
}

// A stored user value: the scoring state alone (version byte 1: generation
// 0, no history), or
//
//	envelopeTag · uvarint gen · uvarint hist · uvarint n · n × (str dim · uvarint seq) · state
//
// with the retired dimensions sorted by name.
const envelopeTag byte = 0xC1

// maxRetired bounds the retired dimensions a decoded envelope may hold.
const maxRetired = 1024

func appendEnvelope(b []byte, u *userState, gen uint64, s *scoring.State) ([]byte, error) {
	b = append(b, envelopeTag)
	b = binary.AppendUvarint(b, gen)
	var retired []retiredSeq
	if s == &u.s {
		b = binary.AppendUvarint(b, u.hist)
		retired = u.retired
	} else {
		b = binary.AppendUvarint(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(retired)))
	for _, r := range retired {
		b = appendString(b, r.dim)
		b = binary.AppendUvarint(b, r.seq)
	}
	return s.AppendBinary(b)
}

// decodeEnvelope decodes a stored user value into s and, when u is not
// nil, its history count and retired dimensions into u.
func decodeEnvelope(b []byte, u *userState, s *scoring.State) (gen uint64, err error) {
	if len(b) > 0 && b[0] == envelopeTag {
		d := decoder{b: b[1:]}
		gen = d.uvarint("generation")
		hist := d.uvarint("history")
		n := d.uvarint("retired")
		if n > maxRetired {
			d.fail("retired count")
		}
		var retired []retiredSeq
		for i := uint64(0); i < n && d.err == nil; i++ {
			r := retiredSeq{dim: string(d.bytes("dimension")), seq: d.uvarint("seq")}
			if len(retired) > 0 && retired[len(retired)-1].dim >= r.dim {
				d.fail("retired order")
			}
			retired = append(retired, r)
		}
		if d.err != nil {
			return 0, fmt.Errorf("%w: user envelope: %v", storage.ErrCorrupt, d.err)
		}
		if u != nil {
			u.hist, u.retired = hist, append(u.retired[:0], retired...)
		}
		b = d.b
	}
	return gen, s.UnmarshalBinary(b)
}

// loadModels reads the shard's model record and compiles its models. A
// shard without one (data from before models were replicated) runs the
// built-in model at generation 0 and takes its counts from legacy, the
// tier counts Meta held in the built-in model's order.
func (f *FSM) loadModels(legacy []int64) error {
	f.recDirty, f.countsDirty = false, false // what was pending went with the old state
	b, found, err := f.store.Models(nil)
	if err != nil {
		return err
	}
	rec := shardModels{Models: []modelEntry{{Gen: 0}}}
	if found {
		rec = shardModels{}
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("cluster: shard %d model record: %w", f.cfg.Shard, err)
		}
	}
	models := make(map[uint64]Model, len(rec.Models))
	for _, e := range rec.Models {
		m, err := compileModel(e.Source, f.cfg.Model)
		if err != nil {
			return fmt.Errorf("cluster: shard %d model generation %d: %w", f.cfg.Shard, e.Gen, err)
		}
		models[e.Gen] = m
	}
	if models[rec.Active] == nil || (rec.Candidate != 0 && models[rec.Candidate] == nil) {
		return fmt.Errorf("cluster: shard %d model record names a model it lacks", f.cfg.Shard)
	}
	f.rec, f.models = rec, models
	if err := f.loadCounts(); err != nil {
		return err
	}
	if !found {
		f.recDirty = true
		k := 0
		for _, d := range f.cfg.Model.Dimensions() {
			for _, t := range d.Tiers {
				if k < len(legacy) && legacy[k] != 0 {
					f.counts[countKey{kind: countActive, dim: d.Name, to: t}] = legacy[k]
				}
				k++
			}
		}
		f.countsDirty = len(f.counts) > 0
	}
	f.setActive()
	return nil
}

// setActive caches what the hot path needs of the record.
func (f *FSM) setActive() {
	for _, m := range f.models {
		if r, ok := m.(rfmReader); ok {
			r.SetRFM(f.rec.RFM)
		}
	}
	f.active = f.models[f.rec.Active]
	f.activeDims = f.active.Dimensions()
	f.candidate, f.candidateDims = nil, nil
	if f.rec.Candidate != 0 {
		f.candidate = f.models[f.rec.Candidate]
		f.candidateDims = f.candidate.Dimensions()
	}
	models := make(map[uint64]Model, len(f.models))
	for g, m := range f.models {
		models[g] = m
	}
	f.mu.Lock()
	f.mu.active, f.mu.dims, f.mu.models, f.mu.rfm = f.active, f.activeDims, models, f.rec.RFM
	f.mu.Unlock()
}

func (f *FSM) entry(gen uint64) *modelEntry {
	for i := range f.rec.Models {
		if f.rec.Models[i].Gen == gen {
			return &f.rec.Models[i]
		}
	}
	return nil
}

// putModels writes the model record into the pending batch (when it
// changed: it holds the models' texts).
func (f *FSM) putModels(b *storage.Batch) error {
	rec, err := json.Marshal(&f.rec)
	if err != nil {
		return err
	}
	b.PutModels(rec)
	f.recDirty = false
	return nil
}

// publishCounts copies the counts for readers.
func (f *FSM) publishCounts() {
	c := make(map[countKey]int64, len(f.counts))
	for k, n := range f.counts {
		if n != 0 {
			c[k] = n
		}
	}
	h := make([]hourCount, 0, len(f.hourly))
	for _, x := range f.hourly {
		h = append(h, x)
	}
	f.mu.Lock()
	f.mu.counts, f.mu.hourly = c, h
	f.mu.Unlock()
}

func (f *FSM) count(kind byte, dim, from, to string, delta int64) {
	f.counts[countKey{kind: kind, dim: dim, from: from, to: to}] += delta
	f.countsDirty = true
}

// applyModel follows a new plan: models that enter are compiled (the plan
// was checked when it entered the control group; a replica that cannot
// compile it stops rather than diverge), the record changes, and a sweep
// starts when users have to move.
func (f *FSM) applyModel(p *ModelPlan) error {
	if p.Generation <= f.rec.Generation {
		return nil // already followed (a re-proposal)
	}
	add := func(gen uint64, src *ModelSource) {
		if f.models[gen] != nil {
			return
		}
		m, err := compileModel(src, f.cfg.Model)
		if err != nil {
			f.fatal("compile model "+src.ID, err)
		}
		f.models[gen] = m
		f.rec.Models = append(f.rec.Models, modelEntry{Gen: gen, Source: src})
		slices.SortFunc(f.rec.Models, func(a, b modelEntry) int { return cmpUint(a.Gen, b.Gen) })
	}
	add(p.ActiveGen, p.Active)
	if p.Candidate != nil {
		add(p.CandidateGen, p.Candidate)
	}
	changed := false
	if p.ActiveGen != f.rec.Active {
		e := f.entry(p.ActiveGen)
		e.Since, e.Mode = f.now, p.Mode
		f.rec.Active = p.ActiveGen
		changed = true
	}
	if p.CandidateGen != f.rec.Candidate {
		// Shadow counts only ever describe the current candidate.
		for k := range f.counts {
			if k.kind != countActive {
				delete(f.counts, k)
			}
		}
		f.rec.Candidate = p.CandidateGen
		changed = true
	}
	f.rec.Generation = p.Generation
	if changed {
		f.rec.Sweeping, f.rec.SweepAfter = true, ""
	}
	f.setActive()
	f.recDirty, f.countsDirty = true, true
	f.writeBatch()
	f.cfg.Logger.Info("model plan applied", "shard", f.cfg.Shard, "generation", p.Generation,
		"active", f.active.Name(), "shadow", modelName(f.candidate))
	return nil
}

func modelName(m Model) string {
	if m == nil {
		return ""
	}
	return m.Name()
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ErrSweepBacklog is the response to a sweep step that left users to move.
var ErrSweepBacklog = errors.New("cluster: model sweep continues")

// applySweep reconciles up to limit users after the sweep's position with
// the plan; the last step forgets the models no user is under any more.
func (f *FSM) applySweep(limit uint64) error {
	if !f.rec.Sweeping {
		return nil
	}
	f.commit() // the walk reads committed user keys
	var users []string
	more, err := f.store.UsersAfter(f.rec.SweepAfter, int(max(limit, 1)), func(user string) error {
		users = append(users, user)
		return nil
	})
	if err != nil {
		f.fatal("sweep users", err)
	}
	for _, user := range users {
		err := f.host.Do(user, func(u *userState) error {
			oldDue, oldRFM := f.due(u), rfmOf(&u.s)
			if f.reconcile(user, u) || f.rec.Reeval && f.reevaluate(user, u) {
				f.trackAs(user, u, oldDue, oldRFM)
			}
			return nil
		})
		if err != nil {
			f.fatal("sweep user", err)
		}
	}
	f.recDirty = true
	if more {
		f.rec.SweepAfter = users[len(users)-1]
		f.writeBatch()
		return ErrSweepBacklog
	}
	f.rec.Sweeping, f.rec.SweepAfter, f.rec.Reeval = false, "", false
	keep := f.rec.Models[:0]
	for _, e := range f.rec.Models {
		if e.Gen == f.rec.Active || (f.rec.Candidate != 0 && e.Gen == f.rec.Candidate) {
			keep = append(keep, e)
		} else {
			delete(f.models, e.Gen)
		}
	}
	f.rec.Models = keep
	f.setActive()
	f.writeBatch()
	f.cfg.Logger.Info("model sweep done", "shard", f.cfg.Shard, "active", f.active.Name(), "shadow", modelName(f.candidate))
	return nil
}

// due is the user's timer as stored: the earlier of its states' deadlines.
func (f *FSM) due(u *userState) int64 {
	d := int64(0)
	if m := f.models[u.gen]; m != nil && u.s.Events() > 0 {
		d = m.NextDue(&u.s)
	}
	if u.shadowGen != 0 {
		if m := f.models[u.shadowGen]; m != nil {
			if sd := m.NextDue(u.sh()); sd != 0 && (d == 0 || sd < d) {
				d = sd
			}
		}
	}
	return d
}

// newUser prepares the state of a user seen for the first time.
func (f *FSM) newUser(u *userState) {
	u.gen = f.rec.Active
	if f.rec.Candidate != 0 {
		u.shadowGen = f.rec.Candidate
	}
}

// reconcile moves u to the shard's plan: its state to the active model
// (emitting or silently, as the plan's mode says) and its shadow state to
// the candidate (built from its state, or dropped). It reports whether u
// changed.
func (f *FSM) reconcile(user string, u *userState) bool {
	changed := false
	if u.gen != f.rec.Active {
		f.migrate(user, u)
		changed = true
	}
	switch {
	case f.rec.Candidate != 0 && u.shadowGen != f.rec.Candidate:
		f.buildShadow(u)
		changed = true
	case f.rec.Candidate == 0 && u.shadowGen != 0:
		u.shadowGen, u.shadowGone = 0, true
		u.shadow = nil
		changed = true
	}
	return changed
}

// migrate moves u's state to the active model at the instant it became
// active: the old model first fires its own deadlines up to then (those
// transitions are published under the old model), then the user is placed
// under the new one — taking over its shadow state if it ran in shadow.
func (f *FSM) migrate(user string, u *userState) {
	old := f.models[u.gen]
	if old == nil {
		f.fatal("migrate user", fmt.Errorf("user %q is under model generation %d, which the shard forgot", user, u.gen))
	}
	e := f.entry(f.rec.Active)
	since := max(e.Since, u.s.EvaluatedAt())
	if u.s.Events() > 0 {
		f.trans = old.Advance(&u.s, since, f.trans[:0])
		f.origin = 0
		if err := f.emit(user, u, old.Name(), f.trans, true); err != nil {
			f.fatal("migrate user", err)
		}
	}
	oldDims := old.Dimensions()
	from, seq := make([]string, len(f.activeDims)), make([]uint64, len(f.activeDims))
	for i, d := range f.activeDims {
		if j := dimIndex(oldDims, d.Name); j >= 0 {
			seq[i] = u.s.Seq(j)
			from[i] = tierName(oldDims[j], u.s.Tier(j))
		} else {
			seq[i] = u.takeRetired(d.Name)
		}
	}
	for j, d := range oldDims {
		if dimIndex(f.activeDims, d.Name) < 0 {
			u.retire(d.Name, u.s.Seq(j))
		}
	}
	if u.s.Events() > 0 {
		for j, d := range oldDims {
			if t := tierName(d, u.s.Tier(j)); t != "" {
				f.moveTier(user, d.Name, t, "")
			}
		}
	}
	if u.shadowGen == f.rec.Active {
		// The candidate that ran in shadow: its state is the user's now.
		f.active.Advance(u.sh(), since, f.trans[:0])
		u.s = *u.sh()
		u.shadow = nil
		u.shadowGen, u.shadowGone = 0, true
		f.trans = f.active.Adopt(&u.s, from, seq, CauseModel, f.trans[:0])
	} else {
		f.trans = f.active.Rebase(&u.s, from, seq, CauseModel, f.trans[:0])
	}
	u.gen = f.rec.Active
	if u.s.Events() == 0 {
		return
	}
	for i, d := range f.activeDims {
		if t := tierName(d, u.s.Tier(i)); t != "" {
			f.moveTier(user, d.Name, "", t)
		}
	}
	if e.Mode == ModeRebaseline {
		// Moved silently: the next transition of a dimension follows its
		// last published one.
		for i := range f.trans {
			d := dimIndex(f.activeDims, f.trans[i].Dimension)
			u.s.SetSeq(d, f.trans[i].Seq-1)
		}
		return
	}
	f.origin = 0
	if err := f.emit(user, u, f.active.Name(), f.trans, false); err != nil {
		f.fatal("migrate user", err)
	}
}

// buildShadow places a copy of u's state under the candidate.
func (f *FSM) buildShadow(u *userState) {
	if u.shadowGen != 0 && u.shadowGen != f.rec.Candidate {
		u.shadow = nil // a former candidate's: its counts were dropped
	}
	var err error
	if f.buf, err = u.s.AppendBinary(f.buf[:0]); err == nil {
		err = u.sh().UnmarshalBinary(f.buf)
	}
	if err != nil {
		f.fatal("copy state", err)
	}
	u.shadowGen = f.rec.Candidate
	if u.s.Events() == 0 {
		return
	}
	f.trans = f.candidate.Rebase(u.sh(), nil, nil, CauseModel, f.trans[:0])
	f.trans = f.candidate.Advance(u.sh(), u.s.EvaluatedAt(), f.trans)
	for i, d := range f.candidateDims {
		if t := tierName(d, u.sh().Tier(i)); t != "" {
			f.count(countShadow, d.Name, "", t, 1)
		}
	}
	f.countMoves(u, 1)
}

// countMoves adds delta to the (active tier, shadow tier) pair of every
// shadow dimension of u.
func (f *FSM) countMoves(u *userState, delta int64) {
	if f.candidate == nil || u.shadowGen != f.rec.Candidate || u.s.Events() == 0 {
		return
	}
	for i, d := range f.candidateDims {
		to := tierName(d, u.sh().Tier(i))
		from := ""
		if j := dimIndex(f.activeDims, d.Name); j >= 0 {
			from = tierName(f.activeDims[j], u.s.Tier(j))
		}
		f.count(countMove, d.Name, from, to, delta)
	}
}

// moveTier moves user between tiers of dim in the counts and the member
// index ("" is none).
func (f *FSM) moveTier(user, dim, from, to string) {
	if from == to {
		return
	}
	if from != "" {
		f.count(countActive, dim, "", from, -1)
	}
	if to != "" {
		f.count(countActive, dim, "", to, 1)
	}
	f.writeBatch().MoveMember(dim, from, to, user)
}

func dimIndex(dims []scoring.Dimension, name string) int {
	for i := range dims {
		if dims[i].Name == name {
			return i
		}
	}
	return -1
}

// tierName names tier t (State.Tier: 0 none, else 1 + index) of d.
func tierName(d scoring.Dimension, t int) string {
	if t <= 0 || t > len(d.Tiers) {
		return ""
	}
	return d.Tiers[t-1]
}
