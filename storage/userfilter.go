package storage

import (
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// The user index answers "this user certainly has no state" from memory, so
// that loading a new user's state does not cost a Pebble lookup: on a shard
// with millions of users nearly every first event is such a miss, and a miss
// walks the memtables and every level's table iterators (the most expensive
// read Strata does). It is a cache with no false negatives: a user whose
// state was ever committed is always reported as possibly present.
//
// How that holds while users are added concurrently with a build:
//
//   - Every Batch that puts users adds them to the complete filter (cur) and
//     to the one being built (next) before its Pebble commit, holding the
//     index's read lock across both.
//   - A build takes the write lock to install next and open its iterator, so
//     every commit either finished before the iterator (the scan sees its
//     users) or adds them to next itself.
//   - Only a finished build becomes cur; until then (and after Restore or
//     DropShard reset it) every lookup goes to Pebble.
//
// Deleted users stay in the filter (a false positive costs one lookup). A
// filter that fills past its capacity is rebuilt at twice its user count.

const (
	filterBitsPerUser = 10 // ≈1% false positives at capacity with filterHashes
	filterHashes      = 7  // bits set per user, all in one 512-bit block
	filterMinUsers    = 1 << 16
	filterBlockWords  = 8    // 512 bits: one cache line
	filterScanCheck   = 4096 // keys between checks for DB.Close during a build
)

// userFilter is a blocked Bloom filter over user names. Methods are safe for
// concurrent use.
type userFilter struct {
	seed     maphash.Seed
	words    []atomic.Uint64
	blocks   uint64
	capacity int64
	distinct atomic.Int64 // adds that set a new bit: about the distinct users
}

func newUserFilter(capacity int) *userFilter {
	capacity = max(capacity, filterMinUsers)
	blocks := (uint64(capacity)*filterBitsPerUser + 511) / 512
	return &userFilter{
		seed:     maphash.MakeSeed(),
		words:    make([]atomic.Uint64, blocks*filterBlockWords),
		blocks:   blocks,
		capacity: int64(capacity),
	}
}

// probe returns the user's block (from the hash's high bits) and a remix of
// the hash whose 9-bit slices pick its bits in the block.
func (f *userFilter) probe(user string) (base uint64, h uint64) {
	h = maphash.String(f.seed, user)
	hi, _ := bits.Mul64(h, f.blocks)
	return hi * filterBlockWords, bits.RotateLeft64(h, 32) * 0x9E3779B97F4A7C15
}

// add records user; it reports whether any bit was new.
func (f *userFilter) add(user string) bool {
	base, h := f.probe(user)
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

// mayContain is false only for users never added.
func (f *userFilter) mayContain(user string) bool {
	base, h := f.probe(user)
	for i := 0; i < filterHashes; i++ {
		bit := (h >> (i * 9)) & 511
		if f.words[base+bit/64].Load()&(uint64(1)<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

// full reports whether the filter holds more users than it was sized for.
func (f *userFilter) full() bool { return f.distinct.Load() > f.capacity }

// userIndex is a shard's filter state.
type userIndex struct {
	mu   sync.RWMutex
	cur  atomic.Pointer[userFilter] // complete; nil: ask Pebble
	next *userFilter                // being built (mu)
	gen  uint64                     // bumped by every build and reset (mu)
	on   bool                       // TrackUsers was called (mu)
	done chan struct{}              // closed when the build of gen ends (mu)
	// growing is set when a commit schedules a build of a bigger filter and
	// cleared when a build starts: one growth at a time.
	growing atomic.Bool
}

// TrackUsers turns on the shard's in-memory user filter and builds it in the
// background from the stored users, sized for about hint users (the filter
// grows itself). Until the build finishes, and again after Restore or
// DropShard until the rebuild they start finishes, lookups go to Pebble as
// before. Calling it again starts a new build.
func (s *Shard) TrackUsers(hint int) {
	s.users.mu.Lock()
	s.users.on = true
	s.users.mu.Unlock()
	s.buildUsers(2 * hint)
}

// buildUsers starts a build of a filter for capacity users; it is a no-op
// unless tracking is on or when the DB is closed.
func (s *Shard) buildUsers(capacity int) {
	if s.db.enter() != nil {
		return
	}
	ix := &s.users
	ix.mu.Lock()
	if !ix.on {
		ix.mu.Unlock()
		s.db.leave()
		return
	}
	ix.gen++
	gen := ix.gen
	ix.growing.Store(false)
	f := newUserFilter(capacity)
	lower, upper := kindBounds(spaceFSM, s.id, kindUser)
	it, err := s.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		ix.mu.Unlock()
		s.db.leave()
		s.db.logger.Warn("user filter: build not started", "shard", s.id, "error", err)
		return
	}
	ix.next = f
	done := make(chan struct{})
	ix.done = done
	ix.mu.Unlock()
	go func() {
		defer close(done)
		ok := s.scanUsers(it, f)
		s.db.leave()
		ix.mu.Lock()
		current := ix.gen == gen
		if current {
			ix.next = nil
			if ok {
				ix.cur.Store(f)
			}
		}
		ix.mu.Unlock()
		if current && ok && f.full() {
			s.buildUsers(int(2 * f.distinct.Load()))
		}
	}()
}

// scanUsers adds every user of the iterator to f and closes it; false if the
// scan failed or the DB began closing.
func (s *Shard) scanUsers(it *pebble.Iterator, f *userFilter) bool {
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		f.add(string(it.Key()[kindPrefixLen:]))
		if n++; n%filterScanCheck == 0 && s.db.closed.Load() {
			_ = it.Close()
			return false
		}
	}
	err := it.Error()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.db.logger.Warn("user filter: build failed", "shard", s.id, "error", err)
		return false
	}
	return true
}

// resetUsers forgets the filter (lookups go to Pebble) before the shard's
// users are replaced outside a Batch; on false also stops tracking.
func (s *Shard) resetUsers(on bool) {
	ix := &s.users
	ix.mu.Lock()
	ix.on = ix.on && on
	ix.gen++
	ix.cur.Store(nil)
	ix.next = nil
	ix.mu.Unlock()
}

// mayHaveUser is false only when the filter proves user has no state.
func (s *Shard) mayHaveUser(user string) bool {
	f := s.users.cur.Load()
	return f == nil || f.mayContain(user)
}

// commitUsers runs commit while holding the index's read lock, after adding
// users to the complete filter and to the one being built.
func (s *Shard) commitUsers(users []string, commit func() error) error {
	ix := &s.users
	ix.mu.RLock()
	cur, next := ix.cur.Load(), ix.next
	for _, u := range users {
		if cur != nil {
			cur.add(u)
		}
		if next != nil {
			next.add(u)
		}
	}
	err := commit()
	ix.mu.RUnlock()
	if cur != nil && next == nil && cur.full() && ix.growing.CompareAndSwap(false, true) {
		go s.buildUsers(int(2 * cur.distinct.Load()))
	}
	return err
}

// UserFilterStats describes a shard's user filter.
type UserFilterStats struct {
	Ready    bool  // a complete filter answers lookups
	Building bool  // a build (or a growth about to start one) is running
	Capacity int64 // users the complete filter is sized for
	Users    int64 // about the distinct users it holds
}

// UserFilter returns the state of the shard's user filter (TrackUsers).
func (s *Shard) UserFilter() UserFilterStats {
	ix := &s.users
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	st := UserFilterStats{Building: ix.next != nil || ix.growing.Load()}
	if f := ix.cur.Load(); f != nil {
		st.Ready, st.Capacity, st.Users = true, f.capacity, f.distinct.Load()
	}
	return st
}
