package actor

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// Dispatch delivers msgs: groups them by key(m) preserving order, activates each key once (from the resident
// set or via Loader), and calls handle(key, state, m) for each message of that key in order. Distinct keys may
// run in parallel on up to Workers goroutines. Returns the first error (a Loader error or handle error); on error
// the affected keys are passivated (dropped from memory) since their state may be half-updated.
//
// Contract, in detail:
//   - Called by the owner goroutine only. msgs is only read, and not retained.
//   - key must be a pure function of *m; it runs on the caller's goroutine. The
//     Host copies the key when it activates an actor, so it may alias m.
//   - handle(key, s, m) for one key sees that key's messages in input order, one
//     at a time. Calls for distinct keys may run concurrently when Workers > 1,
//     so handle must then touch nothing shared between keys without its own
//     synchronisation; for results independent of Workers it must depend only on
//     (key, *s, *m). It must not call the Host.
//   - Errors: every key is processed regardless of other keys' errors (so the
//     outcome does not depend on scheduling). A key's first error stops its
//     remaining messages in this call and passivates it. The error returned is
//     the one raised at the lowest message index; Loader errors are wrapped with
//     the key ("actor: load ..."), handle errors are returned as is.
//   - Actors touched by the call are not passivated by the LRU until it returns.
func Dispatch[S, M any](h *Host[S], msgs []M, key func(*M) string, handle func(key string, s *S, m *M) error) error {
	if len(msgs) > math.MaxInt32 {
		return fmt.Errorf("actor: Dispatch of %d messages: at most %d per call", len(msgs), math.MaxInt32)
	}
	h.begin()
	var err error
	if h.cfg.Workers > 1 && len(msgs) >= minParallelMsgs {
		err = dispatchGrouped(h, msgs, key, handle)
	} else {
		err = dispatchInline(h, msgs, key, handle)
	}
	h.end()
	return err
}

const (
	// minParallelMsgs is the smallest batch worth grouping for parallel runs.
	minParallelMsgs = 64
	// groupsPerWorker is the least number of keys worth a goroutine.
	groupsPerWorker = 32
	// claimChunk is how many keys a worker claims at a time.
	claimChunk = 8
)

// dispatchInline runs msgs in input order on the caller's goroutine: with one
// worker there is nothing to gain from grouping first.
func dispatchInline[S, M any](h *Host[S], msgs []M, key func(*M) string, handle func(string, *S, *M) error) error {
	var first error
	failed := h.failed[:0]
	for i := range msgs {
		m := &msgs[i]
		k := key(m)
		e, _ := h.touch(k)
		if e.failed {
			continue
		}
		if err := runOne(h, e, k, m, handle); err != nil {
			e.failed = true
			failed = append(failed, e)
			if first == nil {
				first = err
			}
		}
	}
	for i, e := range failed {
		h.drop(e)
		failed[i] = nil
	}
	h.failed = failed[:0]
	return first
}

func runOne[S, M any](h *Host[S], e *entry[S], k string, m *M, handle func(string, *S, *M) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.loaded {
		if err := h.load(e, k); err != nil {
			return err
		}
	}
	if err := handle(k, e.state, m); err != nil {
		e.loaded = false // hide the half-updated state from Peek until it is dropped
		return err
	}
	return nil
}

// group is one key's share of a grouped Dispatch: its messages are chained
// through Host.next from head to tail.
type group[S any] struct {
	e          *entry[S]
	key        string
	head, tail int32
	errAt      int32 // index of the message that failed (the first one for a Loader error), or -1
	err        error
}

// dispatchGrouped groups msgs by key on the caller's goroutine (resolving and
// pinning every actor), then runs the groups on up to Workers goroutines.
func dispatchGrouped[S, M any](h *Host[S], msgs []M, key func(*M) string, handle func(string, *S, *M) error) error {
	n := len(msgs)
	if cap(h.next) < n {
		h.next = make([]int32, n)
	}
	next := h.next[:n]
	groups := h.groups[:0]
	for i := range msgs {
		k := key(&msgs[i])
		e, _ := h.touch(k)
		next[i] = -1
		// The key's first message of this call. Not touch's first: between
		// Hold and Release an epoch spans calls, and e.group may be left over
		// from an earlier call.
		if g := e.group; g < 0 || int(g) >= len(groups) || groups[g].e != e {
			e.group = int32(len(groups))
			groups = append(groups, group[S]{e: e, key: k, head: int32(i), tail: int32(i), errAt: -1})
		} else {
			g := &groups[e.group]
			next[g.tail] = int32(i)
			g.tail = int32(i)
		}
	}
	h.groups = groups

	workers := min(h.cfg.Workers, len(groups)/groupsPerWorker)
	if workers <= 1 {
		for i := range groups {
			runGroup(h, &groups[i], msgs, next, handle)
		}
	} else {
		runParallel(workers, len(groups), func(i int) { runGroup(h, &groups[i], msgs, next, handle) })
	}

	var first error
	errAt := int32(math.MaxInt32)
	for i := range groups {
		g := &groups[i]
		if g.err != nil {
			if g.errAt < errAt {
				first, errAt = g.err, g.errAt
			}
			h.drop(g.e)
		}
	}
	clear(groups) // drop references to keys (they may alias the caller's messages) and errors
	h.groups = groups[:0]
	return first
}

func runGroup[S, M any](h *Host[S], g *group[S], msgs []M, next []int32, handle func(string, *S, *M) error) {
	e := g.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.loaded {
		if err := h.load(e, g.key); err != nil {
			g.err, g.errAt = err, g.head
			return
		}
	}
	for j := g.head; j >= 0; j = next[j] {
		if err := handle(g.key, e.state, &msgs[j]); err != nil {
			e.loaded = false // hide the half-updated state from Peek until it is dropped
			g.err, g.errAt = err, j
			return
		}
	}
}

// runParallel calls run(i) for every i in [0, n) on the caller's goroutine and
// workers-1 goroutines it starts and waits for. A panic in any of them is
// re-raised on the caller's goroutine once all have stopped.
func runParallel(workers, n int, run func(i int)) {
	var (
		cursor   atomic.Int64
		wg       sync.WaitGroup
		panicked atomic.Pointer[any]
	)
	work := func() {
		defer func() {
			if r := recover(); r != nil {
				panicked.CompareAndSwap(nil, &r)
				cursor.Store(int64(n)) // stop the others early
			}
		}()
		for {
			start := int(cursor.Add(claimChunk)) - claimChunk
			if start >= n {
				return
			}
			for i := start; i < min(start+claimChunk, n); i++ {
				run(i)
			}
		}
	}
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	if p := panicked.Load(); p != nil {
		panic(*p)
	}
}
