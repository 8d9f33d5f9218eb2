package storage

import (
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// Key filters answer "this key is certainly absent" from memory for the two
// point reads the FSM makes per event: the state of a user (absent for every
// new user) and the dedupe entry of an event (absent for every event that is
// not a repeat). A Pebble miss walks the memtables and opens an iterator on
// every L0 sublevel and level (L6 has no bloom filters on Get): it was the
// largest cost of the FSM, 43% of its CPU for dedupe lookups at 100k users
// and 19% of the node's CPU for state loads of new users at 10M.
//
// A filter is a cache with no false negatives: a key ever committed is always
// reported as possibly present, whatever the interleaving:
//
//   - every Batch adds the keys it put to the complete filter (cur) and to
//     the one being built (next) at Commit, holding the filter's read lock
//     across the adds and the Pebble commit;
//   - a build takes the write lock to install next and open its iterator, so
//     each commit is either seen by the scan or adds its keys to next;
//   - only a finished build becomes cur; until then, and after Restore or
//     DropShard dropped it (their writes bypass Batch), lookups go to Pebble;
//     while Restore replaces the keys no build runs (one that started before
//     is not installed), and it builds the filters again after.
//
// Deleted keys (expired dedupe entries) stay in the filter; a filter whose
// adds pass its capacity is rebuilt from the stored keys, so expired keys
// leave it then. A shard whose keys of a kind outnumber filterMaxKeys stops
// filtering them (lookups go to Pebble, as without the filter).

const (
	filterBitsPerKey = 10 // ≈1% false positives at capacity with filterHashes
	filterHashes     = 7  // bits set per key, all in one 512-bit block
	filterMinKeys    = 1 << 16
	filterMaxKeys    = 1 << 23 // 8M keys, 10 MiB, per shard and kind
	filterBlockWords = 8       // 512 bits: one cache line
	filterScanCheck  = 4096    // keys between checks for DB.Close during a build
	filterKeyBytes   = 40      // stored bytes per key assumed when sizing from disk usage
)

// Filtered key kinds: indexes of Shard.filters and Batch.pending.
const (
	filterUsers = iota
	filterEvents
	numFilters
)

var filterKinds = [numFilters]struct {
	kind byte
	name string
}{{kindUser, "users"}, {kindEvent, "events"}}

// keyFilter is a blocked Bloom filter over key suffixes (the stored key after
// space | shard | kind). Methods are safe for concurrent use.
type keyFilter struct {
	seed     maphash.Seed
	words    []atomic.Uint64
	blocks   uint64
	capacity int64
	distinct atomic.Int64 // adds that set a new bit: about the distinct keys
}

func newKeyFilter(capacity int64) *keyFilter {
	capacity = max(capacity, filterMinKeys)
	blocks := (uint64(capacity)*filterBitsPerKey + 511) / 512
	return &keyFilter{
		seed:     maphash.MakeSeed(),
		words:    make([]atomic.Uint64, blocks*filterBlockWords),
		blocks:   blocks,
		capacity: capacity,
	}
}

// probe returns the key's block (from the hash's high bits) and a remix of
// the hash whose 9-bit slices pick its bits in the block.
func (f *keyFilter) probe(key []byte) (base uint64, h uint64) {
	h = maphash.Bytes(f.seed, key)
	hi, _ := bits.Mul64(h, f.blocks)
	return hi * filterBlockWords, bits.RotateLeft64(h, 32) * 0x9E3779B97F4A7C15
}

// add records key; it reports whether any bit was new.
func (f *keyFilter) add(key []byte) bool {
	base, h := f.probe(key)
	fresh := false
	for i := 0; i < filterHashes; i++ {
		bit := (h >> (i * 9)) & 511
		w := &f.words[base+bit/64]
		m := uint64(1) << (bit % 64)
		if w.Load()&m == 0 {
			w.Or(m)
			fresh = true
		}
	}
	if fresh {
		f.distinct.Add(1)
	}
	return fresh
}

// mayContain is false only for keys never added.
func (f *keyFilter) mayContain(key []byte) bool {
	base, h := f.probe(key)
	for i := 0; i < filterHashes; i++ {
		bit := (h >> (i * 9)) & 511
		if f.words[base+bit/64].Load()&(uint64(1)<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

// full reports whether more keys were added than the filter was sized for.
func (f *keyFilter) full() bool { return f.distinct.Load() > f.capacity }

// buildHook, when set (tests), runs in every build after it opened its
// iterator and installed its filter, before the scan.
var buildHook atomic.Pointer[func()]

// filterIndex is the filter state of one key kind of a shard.
type filterIndex struct {
	mu   sync.RWMutex
	cur  atomic.Pointer[keyFilter] // complete; nil: ask Pebble
	next *keyFilter                // being built (mu)
	gen  uint64                    // bumped by every build and reset (mu)
	on   bool                      // Track was called and the keys fit (mu)
	// growing is set when a commit schedules the rebuild of a full filter
	// and cleared when a build starts: one at a time.
	growing atomic.Bool
	pending atomic.Int32 // builds scheduled and not finished
}

// pendingKeys are the key suffixes a Batch put, added to the shard's filters
// at Commit: one buffer, no allocation per key.
type pendingKeys struct {
	buf  []byte
	ends []int
}

func (p *pendingKeys) add(suffix []byte) {
	p.buf = append(p.buf, suffix...)
	p.ends = append(p.ends, len(p.buf))
}

func (p *pendingKeys) each(fn func(k []byte)) {
	start := 0
	for _, end := range p.ends {
		fn(p.buf[start:end])
		start = end
	}
}

// Track turns on the shard's in-memory filters of users with state and of
// dedupe entries, and builds them in the background from the stored keys.
// Until a build finishes, and again after Restore or DropShard until the
// rebuild they start finishes, lookups go to Pebble. Calling it again starts
// new builds.
func (s *Shard) Track() {
	for i := range s.filters {
		ix := &s.filters[i]
		ix.mu.Lock()
		ix.on = true
		ix.mu.Unlock()
		s.buildFilter(i, 0)
	}
}

// estimateKeys guesses how many keys of filter i the shard stores.
func (s *Shard) estimateKeys(i int) int64 {
	lower, upper := kindBounds(spaceFSM, s.id, filterKinds[i].kind)
	n, err := s.db.pdb.EstimateDiskUsage(lower, upper)
	if err != nil {
		return 0
	}
	return int64(n / filterKeyBytes)
}

// buildFilter schedules a build of filter i sized for capacity keys (0: from
// the disk usage). Builds of a DB run one at a time (a restarting node must
// not spend both cores scanning keys while it opens its shards).
func (s *Shard) buildFilter(i int, capacity int64) {
	ix := &s.filters[i]
	ix.pending.Add(1)
	go func() {
		defer ix.pending.Add(-1)
		s.db.builds <- struct{}{}
		defer func() { <-s.db.builds }()
		s.runBuild(i, capacity)
	}()
}

// runBuild builds filter i; a no-op unless tracking is on, or when the DB
// is closed.
func (s *Shard) runBuild(i int, capacity int64) {
	if s.db.enter() != nil {
		return
	}
	ix := &s.filters[i]
	ix.mu.Lock()
	if !ix.on {
		ix.mu.Unlock()
		s.db.leave()
		return
	}
	ix.gen++
	gen := ix.gen
	ix.growing.Store(false)
	if capacity <= 0 {
		capacity = 2 * s.estimateKeys(i)
	}
	lower, upper := kindBounds(spaceFSM, s.id, filterKinds[i].kind)
	it, err := s.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		ix.next = nil
		ix.mu.Unlock()
		s.db.leave()
		s.db.logger.Warn("key filter: build not started", "shard", s.id, "keys", filterKinds[i].name, "error", err)
		return
	}
	f := newKeyFilter(min(capacity, filterMaxKeys))
	ix.next = f
	ix.mu.Unlock()
	if hook := buildHook.Load(); hook != nil {
		(*hook)()
	}
	n, ok := s.scanKeys(it, f, filterKinds[i].name)
	s.db.leave()
	ix.mu.Lock()
	current := ix.gen == gen
	if current {
		ix.next = nil
		switch {
		case n > filterMaxKeys:
			ix.on = false // too many to filter: Pebble answers
			s.db.logger.Info("key filter: off, too many keys", "shard", s.id, "keys", filterKinds[i].name, "count", n)
		case ok:
			ix.cur.Store(f)
		}
	}
	ix.mu.Unlock()
	if current && ok && f.full() {
		s.buildFilter(i, 2*n)
	}
}

// scanKeys adds the suffix of every key of the iterator to f and closes it;
// it returns the number of keys, false if the scan failed or the DB began
// closing.
func (s *Shard) scanKeys(it *pebble.Iterator, f *keyFilter, name string) (int64, bool) {
	var n int64
	for valid := it.First(); valid; valid = it.Next() {
		f.add(it.Key()[kindPrefixLen:])
		if n++; n%filterScanCheck == 0 && s.db.closed.Load() {
			_ = it.Close()
			return n, false
		}
	}
	err := it.Error()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.db.logger.Warn("key filter: build failed", "shard", s.id, "keys", name, "error", err)
		return n, false
	}
	return n, true
}

// resetFilters forgets the filters (lookups go to Pebble) and stops
// tracking (DropShard). Builds already scheduled do nothing.
func (s *Shard) resetFilters() {
	s.suspendFilters()
}

// suspendFilters forgets the filters and stops tracking while the shard's
// keys are replaced outside a Batch (Restore): a build must not scan a
// half-replaced state. It returns which filters were on, for resumeFilters.
func (s *Shard) suspendFilters() (on [numFilters]bool) {
	for i := range s.filters {
		ix := &s.filters[i]
		ix.mu.Lock()
		on[i] = ix.on
		ix.on = false
		ix.gen++ // a build running now is not installed
		ix.cur.Store(nil)
		ix.next = nil
		ix.mu.Unlock()
	}
	return on
}

// resumeFilters turns tracking back on where it was and builds those filters.
func (s *Shard) resumeFilters(on [numFilters]bool) {
	for i := range s.filters {
		if !on[i] {
			continue
		}
		ix := &s.filters[i]
		ix.mu.Lock()
		ix.on = true
		ix.mu.Unlock()
		s.buildFilter(i, 0)
	}
}

// mayHave is false only when filter i proves the key with this suffix absent.
func (s *Shard) mayHave(i int, suffix []byte) bool {
	f := s.filters[i].cur.Load()
	return f == nil || f.mayContain(suffix)
}

// commitFiltered runs commit while holding every filter's read lock, after
// adding the pending keys to the complete filters and to those being built.
func (s *Shard) commitFiltered(pending *[numFilters]pendingKeys, commit func() error) error {
	var full [numFilters]bool
	for i := range s.filters {
		ix := &s.filters[i]
		ix.mu.RLock()
		defer ix.mu.RUnlock()
		cur, next := ix.cur.Load(), ix.next
		if cur == nil && next == nil {
			continue
		}
		pending[i].each(func(k []byte) {
			if cur != nil {
				cur.add(k)
			}
			if next != nil {
				next.add(k)
			}
		})
		full[i] = cur != nil && next == nil && cur.full()
	}
	err := commit()
	for i, f := range full {
		if f && s.filters[i].growing.CompareAndSwap(false, true) {
			s.buildFilter(i, 0)
		}
	}
	return err
}

// KeyFilterStats describes one of a shard's key filters.
type KeyFilterStats struct {
	Ready    bool  // a complete filter answers lookups
	Building bool  // a build is scheduled or running
	Capacity int64 // keys the complete filter is sized for
	Keys     int64 // about the distinct keys added to it
}

// UserFilter returns the state of the shard's filter of users with state.
func (s *Shard) UserFilter() KeyFilterStats { return s.filterStats(filterUsers) }

// EventFilter returns the state of the shard's filter of dedupe entries.
func (s *Shard) EventFilter() KeyFilterStats { return s.filterStats(filterEvents) }

func (s *Shard) filterStats(i int) KeyFilterStats {
	ix := &s.filters[i]
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	st := KeyFilterStats{Building: ix.pending.Load() > 0}
	if f := ix.cur.Load(); f != nil {
		st.Ready, st.Capacity, st.Keys = true, f.capacity, f.distinct.Load()
	}
	return st
}
