package actor

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Loader activates an actor's state from durable storage. Called on the dispatching goroutine(s); must be safe
// for concurrent calls with distinct keys when Workers > 1.
type Loader[S any] interface {
	// Load fills *s (already Reset) with the stored state of key; found=false leaves it fresh.
	// An error fails the activation: the key is not made resident and the error is
	// returned (wrapped with the key) by the call that needed it. Load must not call
	// back into the Host.
	Load(key string, s *S) (found bool, err error)
}

// Stats are cumulative counters of a Host, updated when each call returns.
type Stats struct {
	Activations  uint64 // keys made resident: one Loader call each
	Hits         uint64 // calls that found a key resident (counted once per key per call)
	Passivations uint64 // resident keys dropped: LRU evictions, errors, Passivate, Clear
}

// Host is the resident set of actors of one state type S.
//
// Goroutines: one goroutine, the owner, makes every call (Dispatch, Do, FireDue,
// Passivate, Clear, Hold, Release). Peek, Len and Stats are safe from any goroutine.
//
// Locking, so that Peek can read concurrently while the owner's hot path stays
// cheap: the key→actor map is guarded by mu, a RWMutex that the owner takes in
// write mode only to add or remove actors (activation, passivation) — never for
// a message to a resident actor — and Peek takes in read mode. Each actor's state
// is guarded by the actor's own RWMutex, held in write mode while the owner (or a
// Dispatch worker) runs messages of that actor and in read mode by Peek. Lock
// order is always mu, then an actor's lock. The owner reads the map and the LRU
// list without locks: only it writes them.
type Host[S any] struct {
	cfg      Config
	loader   Loader[S]
	newState func() *S
	reset    func(*S)

	mu struct {
		sync.RWMutex
		m map[string]*entry[S] // resident actors; written under mu by the owner only
	}
	lru   entry[S]    // sentinel of the LRU list: lru.next is most recent, lru.prev least
	free  []*entry[S] // passivated entries kept for reuse, at most maxFree
	epoch uint64      // incremented per call; entries touched in the current epoch are pinned
	held  bool        // between Hold and Release: the epoch does not advance

	// Scratch for Dispatch (owner only), reused across calls.
	groups []group[S]
	next   []int32
	failed []*entry[S]

	pend  Stats // counted by the owner without atomics, flushed into stats per call
	stats struct{ activations, hits, passivations atomic.Uint64 }
}

// entry is one resident actor, linked into the Host's LRU list. The fields the
// owner reads for every message come first, with short keys stored inline, so a
// lookup and an LRU move touch as few cache lines as possible.
type entry[S any] struct {
	key        string // map key, backed by keyArr or keyBuf (reused: no garbage per activation)
	epoch      uint64 // last call that touched it
	prev, next *entry[S]
	keyArr     [inlineKey]byte

	mu     sync.RWMutex // guards loaded and *state against Peek
	loaded bool         // state holds the key's activated state (false until Load succeeds, and after an error)
	failed bool         // an error hit this entry in the current call; it is dropped when the call returns
	group  int32        // index into Host.groups during a grouped Dispatch
	state  *S
	keyBuf []byte // for keys longer than inlineKey
}

// inlineKey is the longest key stored inside the entry itself.
const inlineKey = 32

// maxFree bounds the entries kept for reuse beyond the resident set (after
// Passivate, Clear, errors or an overshoot of Capacity).
const maxFree = 1024

// NewHost: newState allocates a fresh S, reset clears one for reuse (keep its capacity).
func NewHost[S any](cfg Config, loader Loader[S], newState func() *S, reset func(*S)) (*Host[S], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if loader == nil || newState == nil || reset == nil {
		return nil, fmt.Errorf("%w: NewHost needs a loader, newState and reset (got nil)", ErrConfig)
	}
	h := &Host[S]{cfg: cfg, loader: loader, newState: newState, reset: reset}
	h.mu.m = make(map[string]*entry[S], min(cfg.Capacity, 1<<16))
	h.lru.next, h.lru.prev = &h.lru, &h.lru
	return h, nil
}

// Do runs fn on key's state (activating it) — one message. A Loader error is
// returned wrapped with the key; fn's error is returned as is. On either error
// the key is passivated. fn must not call back into the Host.
func (h *Host[S]) Do(key string, fn func(s *S) error) error {
	h.begin()
	e, _ := h.touch(key)
	err := h.runFn(e, key, fn)
	if err != nil {
		h.drop(e)
	}
	h.end()
	return err
}

func (h *Host[S]) runFn(e *entry[S], key string, fn func(s *S) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.loaded {
		if err := h.load(e, key); err != nil {
			return err
		}
	}
	if err := fn(e.state); err != nil {
		e.loaded = false
		return err
	}
	return nil
}

// Peek calls fn with a read-only view of key's state if the key is resident and
// reports whether it was. It is safe from any goroutine, concurrently with the
// owner's calls: fn sees the state between two messages of that key (possibly
// including messages of a call still in progress, i.e. not yet made durable by
// the caller), never in the middle of one, and never a state being activated or
// dropped after an error. fn runs under read locks: it must be quick, must not
// modify *s or keep references into it after returning, and must not call the Host.
func (h *Host[S]) Peek(key string, fn func(s *S)) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	e := h.mu.m[key]
	if e == nil {
		return false
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if !e.loaded {
		return false
	}
	fn(e.state)
	return true
}

// Passivate drops key from memory if it is resident (its state is already durable
// elsewhere); the next message activates it again through the Loader. Owner only.
func (h *Host[S]) Passivate(key string) {
	if e := h.mu.m[key]; e != nil {
		h.drop(e)
		h.flush()
	}
}

// Clear drops every resident actor (e.g. after a snapshot restore). Owner only.
func (h *Host[S]) Clear() {
	h.mu.Lock()
	n := len(h.mu.m)
	clear(h.mu.m)
	h.mu.Unlock()
	for e := h.lru.next; e != &h.lru; {
		next := e.next
		e.prev, e.next = nil, nil
		h.recycle(e)
		e = next
	}
	h.lru.next, h.lru.prev = &h.lru, &h.lru
	h.pend.Passivations += uint64(n)
	h.flush()
}

// Len returns the number of resident actors. Safe from any goroutine.
func (h *Host[S]) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.mu.m)
}

// Stats returns the cumulative counters as of the last completed call. Safe from any goroutine.
func (h *Host[S]) Stats() Stats {
	return Stats{
		Activations:  h.stats.activations.Load(),
		Hits:         h.stats.hits.Load(),
		Passivations: h.stats.passivations.Load(),
	}
}

// Hold starts a unit of work spanning several calls (e.g. all the Raft entries
// applied before one storage commit): until Release, every actor touched is
// exempt from LRU passivation, exactly as within a single call, so a state that
// is modified but not yet durable is never dropped and reloaded stale. The
// resident set may exceed Capacity meanwhile; Release trims it. Errors still
// passivate the affected keys at once. Owner only; Hold while held is a no-op.
func (h *Host[S]) Hold() {
	if !h.held {
		h.epoch++
		h.held = true
	}
}

// Release ends the unit of work started by Hold and passivates least recently
// used actors beyond Capacity. Owner only; Release without Hold is a no-op.
func (h *Host[S]) Release() {
	if h.held {
		h.held = false
		h.trim()
		h.flush()
	}
}

// begin starts a call: a new epoch pins what the call touches (unless held).
func (h *Host[S]) begin() {
	if !h.held {
		h.epoch++
	}
}

// end finishes a call: trims the resident set and publishes the counters.
func (h *Host[S]) end() {
	if !h.held {
		h.trim()
	}
	h.flush()
}

// touch returns key's entry, making it resident and most recently used; first
// reports whether this is the first touch of the current epoch. A new entry is
// not loaded yet. Owner only.
func (h *Host[S]) touch(key string) (e *entry[S], first bool) {
	if e = h.mu.m[key]; e != nil {
		h.moveToFront(e) // keeps the entries of the current epoch a prefix of the list
		if e.epoch == h.epoch {
			return e, false
		}
		e.epoch = h.epoch
		h.pend.Hits++
		return e, true
	}
	tail := h.lru.prev
	evict := len(h.mu.m) >= h.cfg.Capacity && tail != &h.lru && tail.epoch != h.epoch
	switch {
	case evict:
		e = tail
		h.unlink(e)
		h.pend.Passivations++
	case len(h.free) > 0:
		n := len(h.free) - 1
		e, h.free[n] = h.free[n], nil
		h.free = h.free[:n]
	default:
		e = &entry[S]{state: h.newState()}
	}
	h.mu.Lock()
	if evict {
		delete(h.mu.m, e.key) // before setKey: e.key's bytes are about to be overwritten
	}
	e.setKey(key)
	e.loaded, e.failed, e.epoch = false, false, h.epoch
	h.mu.m[e.key] = e
	h.mu.Unlock()
	h.pushFront(e)
	h.pend.Activations++
	return e, true
}

// load activates e from the Loader; the caller holds e.mu. It touches only e and
// read-only Host fields, so Dispatch workers call it concurrently.
func (h *Host[S]) load(e *entry[S], key string) error {
	h.reset(e.state)
	if _, err := h.loader.Load(key, e.state); err != nil {
		return fmt.Errorf("actor: load %q: %w", key, err)
	}
	e.loaded = true
	return nil
}

// drop passivates e now (after an error, or Passivate). Owner only.
func (h *Host[S]) drop(e *entry[S]) {
	h.mu.Lock()
	delete(h.mu.m, e.key)
	h.mu.Unlock()
	h.unlink(e)
	h.recycle(e)
	h.pend.Passivations++
}

// trim passivates least recently used actors beyond Capacity. Owner only.
func (h *Host[S]) trim() {
	if len(h.mu.m) <= h.cfg.Capacity {
		return
	}
	h.mu.Lock()
	for len(h.mu.m) > h.cfg.Capacity {
		e := h.lru.prev
		delete(h.mu.m, e.key)
		h.unlink(e)
		h.recycle(e)
		h.pend.Passivations++
	}
	h.mu.Unlock()
}

// recycle keeps an unlinked entry, no longer in the map, for reuse.
func (h *Host[S]) recycle(e *entry[S]) {
	e.loaded, e.failed = false, false
	if len(h.free) < maxFree {
		h.free = append(h.free, e)
	}
}

func (h *Host[S]) flush() {
	p := h.pend
	h.pend = Stats{}
	if p.Activations != 0 {
		h.stats.activations.Add(p.Activations)
	}
	if p.Hits != 0 {
		h.stats.hits.Add(p.Hits)
	}
	if p.Passivations != 0 {
		h.stats.passivations.Add(p.Passivations)
	}
}

// setKey copies key into e's reusable storage. The resulting string aliases that
// storage; it is only ever used as e's map key and is deleted from the map before
// the storage is overwritten, so the aliasing is never observable.
func (e *entry[S]) setKey(key string) {
	n := len(key)
	var buf []byte
	switch {
	case n == 0:
		e.key = ""
		return
	case n <= inlineKey:
		buf = e.keyArr[:n]
	default:
		if cap(e.keyBuf) < n {
			e.keyBuf = make([]byte, n)
		}
		buf = e.keyBuf[:n]
	}
	copy(buf, key)
	e.key = unsafe.String(unsafe.SliceData(buf), n)
}

func (h *Host[S]) pushFront(e *entry[S]) {
	e.prev = &h.lru
	e.next = h.lru.next
	e.next.prev = e
	h.lru.next = e
}

func (h *Host[S]) unlink(e *entry[S]) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

func (h *Host[S]) moveToFront(e *entry[S]) {
	if h.lru.next == e {
		return
	}
	e.prev.next = e.next
	e.next.prev = e.prev
	h.pushFront(e)
}
