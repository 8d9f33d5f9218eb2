package storage

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/go-hclog"
)

// Options configures Open. The zero value is usable; DefaultOptions spells
// out the defaults.
type Options struct {
	// FS is the file system Pebble uses. nil means the real disk
	// (vfs.Default, wrapped by Pebble's disk-health checks). Tests pass
	// vfs.NewMem() or vfs.NewCrashableMem().
	FS vfs.FS
	// CacheSize is the block cache size in bytes. Zero or negative means the
	// default, 256 MiB. Pebble charges memtables to its cache, so Open adds
	// room for two 64 MiB memtables on top: blocks keep CacheSize.
	CacheSize int64
	// Logger receives Pebble's messages. nil means hclog.NewNullLogger().
	Logger hclog.Logger
}

const (
	defaultCacheSize = 256 << 20
	memTableSize     = 64 << 20
	// memTableReserve is how many memtables' worth of memory Open adds to
	// the Pebble cache, which memtables are charged to (one filling, one
	// flushing).
	memTableReserve = 2
	bloomBitsPerKey = 10
)

// DefaultOptions returns the defaults: real disk, 256 MiB block cache, no logging.
func DefaultOptions() Options {
	return Options{CacheSize: defaultCacheSize, Logger: hclog.NewNullLogger()}
}

// DB is one Pebble database holding every shard of a Strata node: each
// shard's Raft log and stable store (RaftStore) and its FSM state (Shard).
// All methods are safe for concurrent use. After Close every method returns
// ErrClosed (Close waits for calls in progress to finish).
type DB struct {
	pdb    *pebble.DB
	logger hclog.Logger
	fs     vfs.FS // where the database lives (restore spools snapshots next to it)
	dir    string

	builds chan struct{} // one key-filter build at a time (keyfilter.go)

	// active counts calls in progress; closed is set once by Close. See enter.
	active  atomic.Int64
	closed  atomic.Bool
	drained struct {
		sync.Mutex
		cond sync.Cond
	}

	mu struct {
		sync.Mutex
		raft   map[uint16]*RaftStore
		shards map[uint16]*Shard
		snaps  map[*Snapshot]struct{}
		closed bool
	}
}

// Open opens (creating if needed) the database in dir.
func Open(dir string, opts Options) (*DB, error) {
	if opts.CacheSize <= 0 {
		opts.CacheSize = defaultCacheSize
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	logger := opts.Logger.Named("pebble")
	po := &pebble.Options{
		FS:                          opts.FS,
		CacheSize:                   opts.CacheSize + memTableReserve*memTableSize,
		MemTableSize:                memTableSize,
		MemTableStopWritesThreshold: 4,
		FormatMajorVersion:          pebble.FormatNewest,
		Logger:                      pebbleLogger{logger},
	}
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(bloomBitsPerKey)
		po.Levels[i].FilterType = pebble.TableFilter
	}
	pdb, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("storage: open %q: %w", dir, err)
	}
	fs := opts.FS
	if fs == nil {
		fs = vfs.Default
	}
	db := &DB{pdb: pdb, logger: opts.Logger, fs: fs, dir: dir, builds: make(chan struct{}, 1)}
	db.drained.cond.L = &db.drained.Mutex
	db.mu.raft = make(map[uint16]*RaftStore)
	db.mu.shards = make(map[uint16]*Shard)
	db.mu.snaps = make(map[*Snapshot]struct{})
	return db, nil
}

// enter registers a call in progress; it fails once Close has begun. Every
// successful enter must be paired with leave. It never blocks, so calls may
// nest (e.g. a Users callback reading another key).
func (db *DB) enter() error {
	db.active.Add(1)
	if db.closed.Load() {
		db.leave()
		return ErrClosed
	}
	return nil
}

func (db *DB) leave() {
	if db.active.Add(-1) == 0 && db.closed.Load() {
		db.drained.Lock()
		db.drained.cond.Broadcast()
		db.drained.Unlock()
	}
}

// Close waits for calls in progress, closes snapshots still open and closes
// Pebble. It is safe to call more than once and after errors; later calls
// return nil. It must not be called from inside a callback of this DB.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	db.drained.Lock()
	for db.active.Load() > 0 {
		db.drained.cond.Wait()
	}
	db.drained.Unlock()

	var err error
	db.mu.Lock()
	db.mu.closed = true
	for sn := range db.mu.snaps {
		if e := sn.release(); e != nil && err == nil {
			err = e
		}
	}
	clear(db.mu.snaps)
	db.mu.Unlock()
	if e := db.pdb.Close(); e != nil && err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}

// Sync makes every write so far durable, including NoSync FSM batches.
func (db *DB) Sync() error {
	if err := db.enter(); err != nil {
		return err
	}
	defer db.leave()
	if err := db.pdb.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("storage: sync: %w", err)
	}
	return nil
}

// Metrics returns Pebble's metrics (for Prometheus gauges), or nil after Close.
func (db *DB) Metrics() *pebble.Metrics {
	if db.enter() != nil {
		return nil
	}
	defer db.leave()
	return db.pdb.Metrics()
}

// RaftStore returns the Raft log and stable store of shard. The same
// *RaftStore is returned for every call with the same shard (it caches the
// first and last index), so hand it to exactly one raft.Raft.
func (db *DB) RaftStore(shard uint16) *RaftStore {
	db.mu.Lock()
	defer db.mu.Unlock()
	rs, ok := db.mu.raft[shard]
	if !ok {
		rs = &RaftStore{db: db, shard: shard}
		db.mu.raft[shard] = rs
	}
	return rs
}

// Shard returns the FSM state of shard.
func (db *DB) Shard(shard uint16) *Shard {
	db.mu.Lock()
	defer db.mu.Unlock()
	s, ok := db.mu.shards[shard]
	if !ok {
		s = &Shard{db: db, id: shard}
		db.mu.shards[shard] = s
	}
	return s
}

// pebbleLogger adapts hclog to pebble.Logger.
type pebbleLogger struct{ l hclog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	if p.l.IsInfo() {
		p.l.Info(fmt.Sprintf(format, args...))
	}
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
}

// Fatalf logs and panics: Pebble calls it only on unrecoverable corruption,
// where diverging silently is worse than stopping (RELIABILITY trap 2).
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg)
	panic("storage: pebble fatal: " + msg)
}

// FS is the filesystem the database lives on (tools and tests).
func (db *DB) FS() vfs.FS { return db.fs }

// Dir is the database directory on FS.
func (db *DB) Dir() string { return db.dir }
