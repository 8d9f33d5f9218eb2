package cluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/scoring"
	"github.com/strata-io/strata/storage"
)

// shardConfig is everything one shard needs; Cluster fills it from Config.
type shardConfig struct {
	ID         uint16
	NodeID     string
	Dir        string // snapshots of this shard
	DB         *storage.DB
	Model      *scoring.Model
	JS         jetstream.JetStream
	Clock      Clock
	Metrics    *Metrics
	Logger     hclog.Logger
	RaftLogger hclog.Logger
	Config     *Config
	Trans      *raft.NetworkTransport // the shard's Raft transport; closed with the shard
	Bootstrap  []raft.Server          // forming a cluster: the first configuration
	Host       *Cluster
}

// Shard is one partition of users: a Raft group, its FSM, and — while this
// node leads it — the leader loops that ingest events, tick timers and publish
// the outbox.
type Shard struct {
	cfg    shardConfig
	fsm    *FSM
	raft   *raft.Raft
	snaps  raft.SnapshotStore
	label  string
	notify chan struct{} // outbox grew

	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		ingesting bool
	}
}

func openShard(cfg shardConfig) (*Shard, error) {
	s := &Shard{cfg: cfg, label: strconv.Itoa(int(cfg.ID)), notify: make(chan struct{}, 1)}
	log := cfg.Logger.With("shard", cfg.ID)
	var lastOutbox uint64
	fsm, err := newFSM(fsmConfig{
		Shard: cfg.ID, DB: cfg.DB, Model: cfg.Model, Actors: cfg.Config.Actors,
		DedupeWindow: cfg.Config.DedupeWindow, History: uint64(cfg.Config.History), Metrics: cfg.Metrics, Logger: log,
		OnCommit: func(m storage.Meta) {
			if m.OutboxNext != lastOutbox {
				lastOutbox = m.OutboxNext
				select {
				case s.notify <- struct{}{}:
				default:
				}
			}
		},
	})
	if err != nil {
		return nil, err
	}
	s.fsm = fsm
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, log.Named("snapshots"))
	if err != nil {
		return nil, fmt.Errorf("cluster: shard %d snapshots: %w", cfg.ID, err)
	}
	s.snaps = snaps
	if err := s.restoreIfBehind(); err != nil {
		return nil, err
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = cfg.RaftLogger.With("shard", cfg.ID)
	rc.NoSnapshotRestoreOnStart = true // state is in Pebble; restoreIfBehind covers a lost state
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 64
	rc.SnapshotThreshold = cfg.Config.SnapshotThreshold
	rc.SnapshotInterval = cfg.Config.SnapshotInterval
	rc.TrailingLogs = cfg.Config.TrailingLogs
	rc.HeartbeatTimeout = cfg.Config.ElectionTimeout
	rc.ElectionTimeout = cfg.Config.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.Config.ElectionTimeout / 2
	rc.ShutdownOnRemove = false
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("cluster: shard %d raft config: %w", cfg.ID, err)
	}
	store := cfg.DB.RaftStore(cfg.ID)
	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return nil, fmt.Errorf("cluster: shard %d: %w", cfg.ID, err)
	}
	r, err := raft.NewRaft(rc, fsm, store, store, snaps, cfg.Trans)
	if err != nil {
		return nil, fmt.Errorf("cluster: shard %d raft: %w", cfg.ID, err)
	}
	s.raft = r
	if !existing && len(cfg.Bootstrap) > 0 {
		boot := raft.Configuration{Servers: cfg.Bootstrap}
		if err := r.BootstrapCluster(boot).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			_ = r.Shutdown().Error()
			return nil, fmt.Errorf("cluster: shard %d bootstrap: %w", cfg.ID, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.watchLeadership(ctx)
	}()
	return s, nil
}

// restoreIfBehind restores the newest snapshot when the Pebble state is older
// than it (state lost or wiped): Raft resumes after the snapshot's index.
func (s *Shard) restoreIfBehind() error {
	list, err := s.snaps.List()
	if err != nil || len(list) == 0 {
		return err
	}
	if !s.behind(list[0].Index) {
		return nil
	}
	_, rc, err := s.snaps.Open(list[0].ID)
	if err != nil {
		return fmt.Errorf("cluster: shard %d open snapshot %s: %w", s.cfg.ID, list[0].ID, err)
	}
	s.cfg.Logger.Info("state behind newest snapshot, restoring", "shard", s.cfg.ID,
		"applied", s.fsm.Meta().AppliedIndex, "snapshot", list[0].Index)
	return s.fsm.Restore(rc)
}

// behind reports whether the FSM lacks an entry at or below snapIndex. Raft
// counts barrier and no-op entries in a snapshot's index but never hands them
// to the FSM, so a gap made only of those is not "behind"; an entry missing
// from the log (compacted) might have been a command, so it is.
func (s *Shard) behind(snapIndex uint64) bool {
	store := s.cfg.DB.RaftStore(s.cfg.ID)
	for i := s.fsm.Meta().AppliedIndex + 1; i <= snapIndex; i++ {
		var l raft.Log
		if err := store.GetLog(i, &l); err != nil {
			return true
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return true
		}
	}
	return false
}

// ID is the shard number.
func (s *Shard) ID() uint16 { return s.cfg.ID }

// FSM returns the shard's state machine (reads).
func (s *Shard) FSM() *FSM { return s.fsm }

// IsLeader reports whether this node leads the shard.
func (s *Shard) IsLeader() bool { return s.raft.State() == raft.Leader }

// HasLeader reports whether the shard has a known leader.
func (s *Shard) HasLeader() bool { addr, _ := s.raft.LeaderWithID(); return addr != "" }

// Ingesting reports whether the leader's consumer is running.
func (s *Shard) Ingesting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.ingesting
}

// Snapshot asks Raft for a snapshot now and waits for it.
func (s *Shard) Snapshot() error { return s.raft.Snapshot().Error() }

// Barrier waits until every entry proposed so far is applied.
func (s *Shard) Barrier(timeout time.Duration) error { return s.raft.Barrier(timeout).Error() }

// Raft exposes the shard's Raft instance (stats, tests).
func (s *Shard) Raft() *raft.Raft { return s.raft }

func (s *Shard) close() error {
	s.cancel()
	s.wg.Wait()
	err := s.raft.Shutdown().Error()
	return errors.Join(err, s.cfg.Trans.Close())
}

// handOver transfers leadership to another voter if this node leads the
// shard (graceful shutdown); it gives up after a few election timeouts.
func (s *Shard) handOver() {
	if !s.IsLeader() || len(s.cfg.Host.voters(s.raft)) < 2 {
		return
	}
	f := s.raft.LeadershipTransfer()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			s.cfg.Logger.Debug("leadership transfer", "shard", s.cfg.ID, "error", err)
		}
	case <-time.After(4 * s.cfg.Config.ElectionTimeout):
	}
}

func (s *Shard) watchLeadership(ctx context.Context) {
	var stop context.CancelFunc
	var done chan struct{}
	step := func(leader bool) {
		if stop != nil {
			stop()
			<-done
			stop = nil
		}
		s.cfg.Metrics.Leader.WithLabelValues(s.label).Set(0)
		if leader {
			s.cfg.Metrics.Leader.WithLabelValues(s.label).Set(1)
			var lctx context.Context
			lctx, stop = context.WithCancel(ctx)
			done = make(chan struct{})
			go func() {
				defer close(done)
				s.lead(lctx)
			}()
		}
	}
	if s.IsLeader() {
		step(true)
	}
	ch := s.raft.LeaderCh()
	for {
		select {
		case <-ctx.Done():
			step(false)
			return
		case leader := <-ch:
			step(leader)
		}
	}
}

// lead runs the leader loops until leadership is lost or the shard closes.
func (s *Shard) lead(ctx context.Context) {
	log := s.cfg.Logger.With("shard", s.cfg.ID)
	// Everything committed before this term must be applied: the cursor and the
	// outbox are read from the FSM.
	for {
		err := s.raft.Barrier(s.cfg.Config.ProposeTimeout).Error()
		if err == nil {
			break
		}
		log.Warn("barrier failed", "error", err)
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return
		}
	}
	log.Debug("leading shard", "applied", s.fsm.Meta().AppliedIndex, "cursor", s.fsm.Meta().Cursor)
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){s.ingestLoop, s.tickLoop, s.publishLoop, s.membershipLoop, s.modelLoop} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	wg.Wait()
}

func (s *Shard) propose(data []byte) raft.ApplyFuture {
	return s.raft.Apply(data, s.cfg.Config.ProposeTimeout)
}

func (s *Shard) tickLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.Config.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for ctx.Err() == nil { // tick again at once while the FSM reports a backlog
				now := s.cfg.Clock.Now().UnixMilli()
				f := s.propose(appendTick(nil, now, uint64(s.cfg.Config.MaxTimersPerTick)))
				if err := f.Error(); err != nil {
					if ctx.Err() == nil {
						s.cfg.Logger.Warn("tick failed", "shard", s.cfg.ID, "error", err)
					}
					break
				}
				if err, _ := f.Response().(error); !errors.Is(err, ErrTickBacklog) {
					if err != nil {
						s.cfg.Logger.Debug("tick rejected", "shard", s.cfg.ID, "error", err)
					}
					break
				}
				s.cfg.Logger.Debug("tick backlog", "shard", s.cfg.ID)
			}
		}
	}
}

// sleepCtx waits d or until ctx ends; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// raftDir is where a shard keeps its snapshots.
func raftDir(dataDir string, shard uint16) string {
	return filepath.Join(dataDir, "snapshots", strconv.Itoa(int(shard)))
}
