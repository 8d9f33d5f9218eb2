package storage

import "runtime"

// FlushForTest flushes memtables to sstables (benchmarks use it to read
// through bloom filters rather than the memtable).
func FlushForTest(db *DB) error { return db.pdb.Flush() }

// WaitFiltersForTest waits for the shard's key-filter builds (including
// rebuilds scheduled by commits) to end; it reports whether complete
// filters of users and of events are in use.
func WaitFiltersForTest(s *Shard) (users, events bool) {
	for i := range s.filters {
		ix := &s.filters[i]
		for {
			ix.mu.RLock()
			done := ix.done
			ix.mu.RUnlock()
			if done != nil {
				<-done
			}
			ix.mu.RLock()
			settled := ix.done == done && !ix.growing.Load()
			ix.mu.RUnlock()
			if settled {
				break
			}
			runtime.Gosched() // a rebuild is about to start
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
