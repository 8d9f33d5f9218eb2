package storage

import "runtime"

// FlushForTest flushes memtables to sstables (benchmarks use it to read
// through bloom filters rather than the memtable).
func FlushForTest(db *DB) error { return db.pdb.Flush() }

// WaitFiltersForTest waits until no key-filter build of the shard is
// scheduled or running; it reports whether complete filters of users and of
// events are in use.
func WaitFiltersForTest(s *Shard) (users, events bool) {
	for i := range s.filters {
		for s.filters[i].pending.Load() > 0 {
			s.db.builds <- struct{}{} // wait for the running build
			<-s.db.builds
			runtime.Gosched() // let a scheduled one take the slot
		}
	}
	return s.filters[filterUsers].cur.Load() != nil, s.filters[filterEvents].cur.Load() != nil
}

// MayHaveUserForTest is false when the user filter alone answers "no state".
func MayHaveUserForTest(s *Shard, user string) bool {
	return s.mayHave(filterUsers, userKey(nil, s.id, user)[kindPrefixLen:])
}

// MayHaveEventForTest is false when the event filter alone answers "not seen".
func MayHaveEventForTest(s *Shard, user, id string) bool {
	return s.mayHave(filterEvents, eventKey(nil, s.id, user, id)[kindPrefixLen:])
}

// SetFilterBuildHookForTest makes every key-filter build call fn after it
// opened its iterator, before its scan (nil: none).
func SetFilterBuildHookForTest(fn func()) {
	if fn == nil {
		buildHook.Store(nil)
		return
	}
	buildHook.Store(&fn)
}

// HoldFilterBuildsForTest keeps the DB's key-filter builds queued until the
// returned release is called.
func HoldFilterBuildsForTest(s *Shard) (release func()) {
	s.db.builds <- struct{}{}
	return func() { <-s.db.builds }
}

// SuspendFiltersForTest is what Restore does around replacing the keys.
func SuspendFiltersForTest(s *Shard) (resume func()) {
	on := s.suspendFilters()
	return func() { s.resumeFilters(on) }
}
