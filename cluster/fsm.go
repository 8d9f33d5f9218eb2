package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/strata-io/strata/actor"
	"github.com/strata-io/strata/scoring"
	"github.com/strata-io/strata/storage"
)

// fsmConfig configures one shard's state machine.
type fsmConfig struct {
	Shard        uint16
	DB           *storage.DB
	Model        *scoring.Model // the built-in model (generation 0)
	Actors       actor.Config
	DedupeWindow time.Duration // how long an applied event ID is remembered per user
	// History is how many recent transitions are kept per user (0: none).
	History uint64
	Metrics *Metrics
	Logger  hclog.Logger
	// OnCommit is called on the apply goroutine after each Pebble commit with the
	// new meta; it must not block.
	OnCommit func(storage.Meta)
}

// FSM is the replicated state machine of one shard. Raft's FSM goroutine is its
// only writer: it decodes entries, folds events into user actors, fires due
// timers and writes state, dedupe set, timers, outbox and meta (with the applied
// index) in one Pebble batch per ApplyBatch call. It never reads a clock: time
// comes from the entry. Readers use Meta and User from any goroutine.
type FSM struct {
	cfg   fsmConfig
	store *storage.Shard
	host  *actor.Host[userState]
	shard string // label

	// The shard's models (fsm_models.go), owned by the apply goroutine.
	rec           shardModels
	models        map[uint64]Model // by generation
	active        Model
	activeDims    []scoring.Dimension
	candidate     Model // nil: no shadow
	candidateDims []scoring.Dimension
	counts        map[countKey]int64
	hourly        map[hourSlot]hourCount
	countsDirty   bool        // the counts changed since the last commit
	recDirty      bool        // the model record changed since the last commit
	countKeys     []countKey  // putCounts' scratch
	hourKeys      []hourCount // putCounts' scratch
	loadBuf       []byte      // the user loader's value buffer
	rfm           *rfmSketch
	rfmDirty      bool

	// Owned by the apply goroutine.
	meta  storage.Meta
	batch *storage.Batch
	dirty bool
	seen  map[string]struct{} // user\x00id applied since the last commit
	trans []scoring.Transition
	buf   []byte
	// Users changed since the last commit, in the order first changed, with
	// the timer each had before (see saveUser), and the set of their names.
	changed   []changedUser
	isChanged map[string]struct{}
	// Outbox records written since the last commit, from seq newFrom; the
	// commit hands them to tail.
	newRecs [][]byte
	newFrom uint64
	tail    outboxTail
	now     int64
	origin  int64

	mu struct {
		sync.Mutex
		meta     storage.Meta
		counts   map[countKey]int64
		hourly   []hourCount
		active   Model
		dims     []scoring.Dimension
		models   map[uint64]Model
		view     ShardModels   // without counts
		modelsCh chan struct{} // closed when view changes
		sketch   []byte        // the RFM sketch as of the last commit
		rfm      scoring.RFMEdges
		// The last Raft configuration entry applied (so committed), as seen
		// since this process started (0: none seen yet).
		cfgIndex uint64
		cfg      raft.Configuration
	}
}

// CommittedConfiguration returns the newest Raft configuration this replica
// has applied and its log index; index 0 means none was seen since start
// (it may predate the last snapshot).
func (f *FSM) CommittedConfiguration() (uint64, raft.Configuration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.cfgIndex, f.mu.cfg.Clone()
}

var (
	_ raft.FSM         = (*FSM)(nil)
	_ raft.BatchingFSM = (*FSM)(nil)
)

// userLoader loads a user's states for the actors: its state and, while a
// shadow model runs or a sweep may find shadow states to drop, its shadow
// state.
type userLoader struct{ f *FSM }

func (l userLoader) Load(user string, u *userState) (bool, error) {
	f := l.f
	b, found, err := f.store.User(user, f.loadBuf[:0])
	f.loadBuf = b
	if err != nil || !found {
		if err == nil {
			f.newUser(u)
		}
		return false, err
	}
	if u.gen, err = decodeEnvelope(b, u, &u.s); err != nil {
		return false, fmt.Errorf("cluster: user %q: %w", user, err)
	}
	if f.rec.Candidate == 0 && !f.rec.Sweeping {
		return true, nil
	}
	b, found, err = f.store.Shadow(user, f.loadBuf[:0])
	f.loadBuf = b
	if err != nil || !found {
		return true, err
	}
	if u.shadowGen, err = decodeEnvelope(b, nil, u.sh()); err != nil {
		return false, fmt.Errorf("cluster: shadow of user %q: %w", user, err)
	}
	return true, nil
}

func newFSM(cfg fsmConfig) (*FSM, error) {
	f := &FSM{cfg: cfg, store: cfg.DB.Shard(cfg.Shard), seen: map[string]struct{}{}, isChanged: map[string]struct{}{}, shard: strconv.Itoa(int(cfg.Shard))}
	actors := cfg.Actors
	actors.Workers = 1 // handlers write the shard's one Pebble batch and meta
	host, err := actor.NewHost[userState](actors, userLoader{f},
		func() *userState { return new(userState) }, (*userState).reset)
	if err != nil {
		return nil, err
	}
	f.host = host
	if err := f.load(); err != nil {
		return nil, err
	}
	f.store.Track()
	if b, err := cfg.DB.RaftStore(cfg.Shard).Get(configKey); err == nil && len(b) > 8 {
		f.setConfiguration(binary.BigEndian.Uint64(b), b[8:])
	}
	return f, nil
}

// configKey holds, in the shard's stable store, the newest configuration
// entry applied: index u64 | raft.EncodeConfiguration.
var configKey = []byte("strata.committed_configuration")

// load reads meta and the model record from Pebble (start and after a
// restore).
func (f *FSM) load() error {
	m, err := f.store.Meta()
	if err != nil {
		return fmt.Errorf("cluster: shard %d meta: %w", f.cfg.Shard, err)
	}
	if m.OutboxNext == 0 {
		m.OutboxNext = 1
	}
	if err := f.loadModels(m.Counts); err != nil {
		return err
	}
	if err := f.loadSketch(); err != nil {
		return err
	}
	m.Counts = nil // the counts live in the model record
	f.meta = m
	f.publishMeta()
	f.publishCounts()
	f.publishModels()
	return nil
}

func (f *FSM) publishMeta() {
	m := f.meta
	f.mu.Lock()
	f.mu.meta = m
	f.mu.Unlock()
	f.cfg.Metrics.AppliedIndex.WithLabelValues(f.shard).Set(float64(m.AppliedIndex))
	f.cfg.Metrics.Cursor.WithLabelValues(f.shard).Set(float64(m.Cursor))
	f.cfg.Metrics.OutboxBacklog.WithLabelValues(f.shard).Set(float64(m.OutboxNext - 1 - m.OutboxTrimmed))
}

// Meta returns the shard's meta as of the last commit. Safe from any goroutine.
func (f *FSM) Meta() storage.Meta {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.meta
}

// fatal stops the node: a replica that cannot write its state must not diverge.
func (f *FSM) fatal(op string, err error) {
	f.cfg.Logger.Error("fatal state machine error", "shard", f.cfg.Shard, "op", op, "error", err)
	panic(fmt.Sprintf("cluster: shard %d: %s: %v", f.cfg.Shard, op, err))
}

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch implements raft.BatchingFSM. Entries at or below the stored applied
// index were applied before a restart and are skipped (RELIABILITY trap 1).
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	resp := make([]any, len(logs))
	// Users changed by this batch stay resident until it is committed: one
	// evicted earlier would be reloaded stale from Pebble.
	f.host.Hold()
	defer f.host.Release()
	for i, l := range logs {
		if l.Type == raft.LogConfiguration {
			f.noteConfiguration(l)
		}
		if l.Index <= f.meta.AppliedIndex {
			continue
		}
		if l.Type == raft.LogCommand {
			start := time.Now()
			resp[i] = f.applyCommand(l)
			f.cfg.Metrics.ApplySeconds.Observe(time.Since(start).Seconds())
		}
		f.meta.AppliedIndex = l.Index
		f.dirty = true
	}
	f.commit()
	return resp
}

func (f *FSM) applyCommand(l *raft.Log) error {
	cmd, err := decodeCommand(l.Data)
	if err != nil {
		// Only our own leader proposes; a bad entry is skipped the same way on every replica.
		f.cfg.Logger.Error("skipping undecodable entry", "shard", f.cfg.Shard, "index", l.Index, "error", err)
		return err
	}
	f.now = max(cmd.Now, f.meta.Now)
	f.meta.Now = f.now
	switch cmd.Kind {
	case kindIngest:
		return f.applyIngest(&cmd)
	case kindTick:
		return f.applyTick(cmd.Limit)
	case kindTrim:
		if cmd.UpTo > f.meta.OutboxTrimmed && cmd.UpTo < f.meta.OutboxNext {
			f.writeBatch().TrimOutbox(cmd.UpTo)
			f.meta.OutboxTrimmed = cmd.UpTo
		}
	case kindModel:
		return f.applyModel(cmd.Plan)
	case kindSweep:
		return f.applySweep(cmd.Limit)
	case kindRFM:
		return f.applyRFM(cmd.RFM)
	}
	return nil
}

func (f *FSM) writeBatch() *storage.Batch {
	if f.batch == nil {
		f.batch = f.store.NewBatch()
	}
	f.dirty = true
	return f.batch
}

// commit writes meta and the pending batch. NoSync: the Raft log is the durable
// record; the next synced log write makes this durable too.
func (f *FSM) commit() {
	if !f.dirty {
		return
	}
	b := f.writeBatch()
	if err := f.writeChanged(b); err != nil {
		f.fatal("encode state", err)
	}
	if f.recDirty {
		if err := f.putModels(b); err != nil {
			f.fatal("encode model record", err)
		}
	}
	countsWritten := f.countsDirty
	if countsWritten {
		f.putCounts(b)
	}
	var sketch []byte
	if f.rfmDirty {
		sketch = appendRFMSketch(nil, f.rfm)
		b.PutSketch(sketch)
		f.rfmDirty = false
	}
	b.PutMeta(f.meta)
	if err := b.Commit(false); err != nil {
		f.fatal("commit", err)
	}
	b.Close()
	f.batch = nil
	f.dirty = false
	clear(f.seen)
	f.tail.add(f.newFrom, f.newRecs)
	f.tail.trim(f.meta.OutboxTrimmed)
	clear(f.newRecs)
	f.newRecs = f.newRecs[:0]
	f.publishMeta()
	if countsWritten {
		f.publishCounts()
	}
	if sketch != nil {
		f.mu.Lock()
		f.mu.sketch = sketch
		f.mu.Unlock()
	}
	f.publishModels()
	if f.cfg.OnCommit != nil {
		f.cfg.OnCommit(f.meta)
	}
}

func userKey(e **ingested) string { return (*e).Event.User }

func (f *FSM) applyIngest(cmd *command) error {
	if cmd.PrevSeq > f.meta.Cursor {
		// The entry that covered (Cursor, PrevSeq] never committed (e.g. its
		// proposal timed out): applying this one would skip those events.
		return fmt.Errorf("%w: entry covers (%d, %d], cursor is %d", ErrCursorGap, cmd.PrevSeq, cmd.LastSeq, f.meta.Cursor)
	}
	msgs := make([]*ingested, 0, len(cmd.Events))
	for i := range cmd.Events {
		if cmd.Events[i].Seq > f.meta.Cursor { // else: applied before (re-proposal after an ambiguous failure)
			msgs = append(msgs, &cmd.Events[i])
		}
	}
	if err := actor.Dispatch(f.host, msgs, userKey, f.applyEvent); err != nil {
		f.fatal("apply events", err)
	}
	f.meta.Cursor = max(f.meta.Cursor, cmd.LastSeq)
	f.writeBatch()
	return nil
}

func (f *FSM) applyEvent(user string, u *userState, m **ingested) error {
	e := &(*m).Event
	k := user + "\x00" + e.ID
	if _, dup := f.seen[k]; dup {
		f.cfg.Metrics.EventsDuplicate.Inc()
		return nil
	}
	// A user no event was applied to yet has no dedupe entries (they are
	// written with its state, which is never deleted): skip the lookup, one
	// Pebble seek per new user.
	if u.s.Events() > 0 {
		dup, err := f.store.HasEvent(user, e.ID)
		if err != nil {
			return err
		}
		if dup {
			f.cfg.Metrics.EventsDuplicate.Inc()
			return nil
		}
	}
	f.seen[k] = struct{}{}
	f.track(user, u)
	f.reconcile(user, u)
	f.origin = (*m).Stored
	f.countMoves(u, -1)
	f.trans = f.active.Apply(&u.s, e, f.now, f.trans[:0])
	if err := f.emit(user, u, f.active.Name(), f.trans, true); err != nil {
		return err
	}
	if u.shadowGen != 0 {
		f.trans = f.candidate.Apply(u.sh(), e, f.now, f.trans[:0])
		f.countShadow(f.trans)
	}
	f.countMoves(u, 1)
	f.writeBatch().PutEvent(user, e.ID, f.now+f.cfg.DedupeWindow.Milliseconds())
	f.cfg.Metrics.EventsApplied.Inc()
	return nil
}

// countShadow counts the shadow model's transitions (never published).
func (f *FSM) countShadow(trans []scoring.Transition) {
	for i := range trans {
		t := &trans[i]
		if t.From != "" {
			f.count(countShadow, t.Dimension, "", t.From, -1)
		}
		f.count(countShadow, t.Dimension, "", t.To, 1)
	}
}

// changedUser is a user whose state the next commit writes. u stays valid
// until then: ApplyBatch holds every user it touches resident.
type changedUser struct {
	user   string
	u      *userState
	oldDue int64     // the user's timer in Pebble before its first change
	oldRFM rfmValues // its measures in the shard's RFM sketch then
}

// track records, before a user's state changes, that the next commit
// writes it, with the timer and RFM measures it had. The state and the
// timer are written once per commit (writeChanged), however many events of
// the user the commit covers: with Zipf-distributed activity a batch of
// 1000 events holds about 580 distinct users.
func (f *FSM) track(user string, u *userState) {
	if _, ok := f.isChanged[user]; ok {
		return
	}
	f.trackAs(user, u, f.due(u), rfmOf(&u.s))
}

// trackAs is track with the timer and measures the user had before.
func (f *FSM) trackAs(user string, u *userState, oldDue int64, oldRFM rfmValues) {
	if _, ok := f.isChanged[user]; ok {
		return
	}
	f.isChanged[user] = struct{}{}
	f.changed = append(f.changed, changedUser{user: user, u: u, oldDue: oldDue, oldRFM: oldRFM})
	f.writeBatch()
}

// emit appends transitions of user made by the model named model to the
// outbox and the user's history; count moves the user in the tier counts
// and the member index too (a model change counts its moves itself).
func (f *FSM) emit(user string, u *userState, model string, trans []scoring.Transition, count bool) error {
	if len(trans) == 0 {
		return nil
	}
	b := f.writeBatch()
	var err error
	for i := range trans {
		t := &trans[i]
		if f.buf, err = appendOutboxRecord(f.buf[:0], f.origin, user, model, t); err != nil {
			return err
		}
		b.AppendOutbox(f.meta.OutboxNext, f.buf)
		if len(f.newRecs) == 0 {
			f.newFrom = f.meta.OutboxNext
		}
		f.newRecs = append(f.newRecs, append([]byte(nil), f.buf...))
		f.meta.OutboxNext++
		if f.cfg.History > 0 {
			u.hist++
			f.buf = appendHistoryEntry(f.buf[:0], model, t)
			b.AddHistory(user, u.hist, f.buf, f.cfg.History)
		}
		if count {
			f.moveTier(user, t.Dimension, t.From, t.To)
		}
		f.countHourly(t.Dimension, t.At)
		f.cfg.Metrics.Transitions.WithLabelValues(t.Dimension).Inc()
	}
	return nil
}

// writeChanged writes the states of every changed user and moves its timer.
func (f *FSM) writeChanged(b *storage.Batch) error {
	for i := range f.changed {
		c := &f.changed[i]
		u := c.u
		var err error
		if f.buf, err = appendEnvelope(f.buf[:0], u, u.gen, &u.s); err != nil {
			return err
		}
		b.PutUser(c.user, f.buf)
		switch {
		case u.shadowGen != 0:
			if f.buf, err = appendEnvelope(f.buf[:0], u, u.shadowGen, u.sh()); err != nil {
				return err
			}
			b.PutShadow(c.user, f.buf)
		case u.shadowGone:
			b.DeleteShadow(c.user)
		}
		u.shadowGone = false
		if due := f.due(u); due != c.oldDue {
			b.SetTimer(c.user, c.oldDue, due)
		}
		if f.rfm.move(c.oldRFM, rfmOf(&u.s)) {
			f.rfmDirty = true
		}
	}
	f.forgetChanged()
	return nil
}

func (f *FSM) forgetChanged() {
	clear(f.changed)
	f.changed = f.changed[:0]
	clear(f.isChanged)
}

// reminders adapts the shard's timer index to the actor runtime; it stops
// after limit timers (0: no limit) before activating the next user.
type reminders struct {
	store *storage.Shard
	limit uint64
	fired *uint64
}

var errTickBudget = errors.New("cluster: tick budget spent")

func (r reminders) Due(upTo int64, fn func(key string, due int64) error) error {
	return r.store.DueTimers(upTo, func(due int64, user string) error {
		if r.limit > 0 && *r.fired == r.limit {
			return errTickBudget
		}
		*r.fired++
		return fn(user, due)
	})
}

// ErrTickBacklog is the response to a tick that left due timers or expired
// dedupe entries for the next tick (its limit was reached).
var ErrTickBacklog = errors.New("cluster: tick limit reached, more is due")

func (f *FSM) applyTick(limit uint64) error {
	f.commit() // the timer index must include everything applied so far
	var fired uint64
	err := actor.FireDue(f.host, reminders{f.store, limit, &fired}, f.now, func(user string, u *userState, due int64) error {
		f.trackAs(user, u, due, rfmOf(&u.s))
		f.reconcile(user, u)
		f.origin = 0
		f.countMoves(u, -1)
		f.trans = f.active.Advance(&u.s, f.now, f.trans[:0])
		if err := f.emit(user, u, f.active.Name(), f.trans, true); err != nil {
			return err
		}
		if u.shadowGen != 0 {
			f.trans = f.candidate.Advance(u.sh(), f.now, f.trans[:0])
			f.countShadow(f.trans)
		}
		f.countMoves(u, 1)
		f.cfg.Metrics.TimersFired.Inc()
		f.cfg.Metrics.TimerLag.Observe(float64(f.now-due) / 1000)
		return nil
	})
	backlog := errors.Is(err, errTickBudget)
	if err != nil && !backlog {
		f.fatal("fire timers", err)
	}
	_, moreExpired, err := f.writeBatch().ExpireEvents(f.now, int(limit))
	if err != nil {
		f.fatal("expire dedupe set", err)
	}
	// Dedupe lookups read committed state: commit the expiry now, or an event
	// later in this ApplyBatch would still see the expired ID and replicas that
	// batch entries differently would diverge.
	f.commit()
	if backlog || moreExpired {
		return ErrTickBacklog
	}
	return nil
}

// Snapshot implements raft.FSM. It runs on the FSM goroutine between applies:
// the state is synced first, because on restart Raft resumes after the newest
// snapshot's index and the FSM must not be behind it.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.cfg.DB.Sync(); err != nil {
		return nil, fmt.Errorf("cluster: sync before snapshot: %w", err)
	}
	return &fsmSnapshot{snap: f.store.Snapshot()}, nil
}

// Restore implements raft.FSM: it replaces the shard's whole state. It
// refuses a snapshot older than what this replica applied (storage
// ErrStaleSnapshot): hashicorp/raft installs whatever snapshot a leader sends
// and then replays the log from the snapshot's index, which a replica that
// was ahead has already compacted (a "log not found" panic), and the state
// would have moved back in time. The leader retries with its newest
// snapshot, or with log entries once it has the replica's progress right.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.store.RestoreNewer(rc, f.meta.AppliedIndex); err != nil {
		if errors.Is(err, storage.ErrStaleSnapshot) {
			f.cfg.Logger.Warn("refusing a snapshot older than the applied state", "error", err)
			return fmt.Errorf("cluster: restore shard %d: %w", f.cfg.Shard, err)
		}
		f.cfg.Logger.Error("snapshot restore failed", "shard", f.cfg.Shard, "error", err)
		return fmt.Errorf("cluster: restore shard %d: %w", f.cfg.Shard, err)
	}
	f.host.Clear()
	f.forgetChanged()
	f.tail.reset()
	clear(f.newRecs)
	f.newRecs = f.newRecs[:0]
	f.batch, f.dirty = nil, false
	clear(f.seen)
	f.cfg.Metrics.SnapshotRestores.Inc()
	f.cfg.Logger.Info("restored shard from a snapshot", "shard", f.cfg.Shard)
	return f.load()
}

type fsmSnapshot struct{ snap *storage.Snapshot }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.snap.WriteTo(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("cluster: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() { _ = s.snap.Close() }

// UserView is a user's state as read from a replica.
type UserView struct {
	User       string             `json:"user"`
	Tiers      map[string]string  `json:"tiers"`
	Scores     scoring.Scores     `json:"scores"`
	FirstSeen  *time.Time         `json:"first_seen"`
	LastSeen   *time.Time         `json:"last_seen"`
	Events     uint64             `json:"events"`
	Model      string             `json:"model"` // the model the tiers are under
	Attributes map[string]string  `json:"attributes,omitempty"`
	Tags       []string           `json:"tags,omitempty"`
	Counters   map[string]float64 `json:"counters,omitempty"`
	// RFM are the user's quintile scores under the population's current
	// edges (absent before the cluster has computed any).
	RFM          *scoring.RFM `json:"rfm,omitempty"`
	AsOf         time.Time    `json:"as_of"`
	Shard        uint16       `json:"shard"`
	AppliedIndex uint64       `json:"applied_index"`
	Node         string       `json:"node,omitempty"`        // the node whose replica answered
	Consistency  string       `json:"consistency,omitempty"` // stale or strong
}

// User reads a user's committed state (stale-ok: as of the last commit).
func (f *FSM) User(user string) (UserView, error) {
	meta := f.Meta()
	model, dims := f.activeModel()
	b, found, err := f.store.User(user, nil)
	if err != nil {
		return UserView{}, err
	}
	if !found {
		return UserView{}, ErrUnknownUser
	}
	var s scoring.State
	gen, err := decodeEnvelope(b, nil, &s)
	if err != nil {
		return UserView{}, fmt.Errorf("cluster: user %q: %w", user, err)
	}
	v := UserView{User: user, Tiers: map[string]string{}, Events: s.Events(), Model: model.Name(),
		Attributes: s.Attributes(), Tags: s.Tags(), Counters: s.Counters(),
		AsOf: time.UnixMilli(meta.Now).UTC(), Shard: f.cfg.Shard, AppliedIndex: meta.AppliedIndex}
	if m := f.modelOf(gen); m != nil && m != model {
		// Not moved to the active model yet (a sweep is under way): show
		// the model it is under.
		model, dims, v.Model = m, m.Dimensions(), m.Name()
	}
	v.Scores = model.Scores(&s, meta.Now)
	if e := f.rfmEdges(); e.Buyers > 0 {
		r := e.Scores(&s)
		v.RFM = &r
	}
	for i, d := range dims {
		if t := tierName(d, s.Tier(i)); t != "" {
			v.Tiers[d.Name] = t
		}
	}
	if ms := s.FirstSeen(); ms != 0 {
		t := time.UnixMilli(ms).UTC()
		v.FirstSeen = &t
	}
	if ms := s.LastSeen(); ms != 0 {
		t := time.UnixMilli(ms).UTC()
		v.LastSeen = &t
	}
	return v, nil
}

// modelOf returns the model of generation gen, nil if the shard has none
// (any goroutine).
func (f *FSM) modelOf(gen uint64) Model {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.models[gen]
}

// activeModel returns the active model and its dimensions (any goroutine).
func (f *FSM) activeModel() (Model, []scoring.Dimension) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.active, f.mu.dims
}

// StateHash hashes the shard's state without AppliedIndex and Now (see
// storage.Shard.StateHash): equal on replicas that applied the same
// commands, whatever ticks they have applied since.
func (f *FSM) StateHash() ([32]byte, error) { return f.store.StateHash() }

func (f *FSM) noteConfiguration(l *raft.Log) {
	f.mu.Lock()
	newer := l.Index > f.mu.cfgIndex
	f.mu.Unlock()
	if !newer || !f.setConfiguration(l.Index, l.Data) {
		return
	}
	b := binary.BigEndian.AppendUint64(nil, l.Index)
	if err := f.cfg.DB.RaftStore(f.cfg.Shard).Set(configKey, append(b, l.Data...)); err != nil {
		f.fatal("persist configuration", err)
	}
}

// setConfiguration records a committed configuration; false if it does not decode.
func (f *FSM) setConfiguration(index uint64, data []byte) (ok bool) {
	defer func() {
		if recover() != nil { // DecodeConfiguration panics on bad data
			ok = false
		}
	}()
	c := raft.DecodeConfiguration(data)
	f.mu.Lock()
	if index > f.mu.cfgIndex {
		f.mu.cfgIndex, f.mu.cfg = index, c
	}
	f.mu.Unlock()
	return true
}
