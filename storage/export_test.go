package storage

import "runtime"

// FlushForTest flushes memtables to sstables (benchmarks use it to read
// through bloom filters rather than the memtable).
func FlushForTest(db *DB) error { return db.pdb.Flush() }

// WaitUserFilterForTest waits for the shard's user-filter builds (including
// growth scheduled by commits) to end; it reports whether a complete filter
// is in use.
func WaitUserFilterForTest(s *Shard) bool {
	for {
		s.users.mu.RLock()
		done := s.users.done
		s.users.mu.RUnlock()
		if done != nil {
			<-done
		}
		s.users.mu.RLock()
		settled := s.users.done == done && !s.users.growing.Load()
		s.users.mu.RUnlock()
		if settled {
			return s.users.cur.Load() != nil
		}
		runtime.Gosched() // a growth build is about to start
	}
}

// MayHaveUserForTest is false when the user filter alone answers "no state".
func MayHaveUserForTest(s *Shard, user string) bool { return s.mayHaveUser(user) }

// UserFilterCapacityForTest is the capacity of the complete filter (0: none).
func UserFilterCapacityForTest(s *Shard) int64 {
	if f := s.users.cur.Load(); f != nil {
		return f.capacity
	}
	return 0
}
