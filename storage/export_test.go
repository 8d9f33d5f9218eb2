package storage

// FlushForTest flushes memtables to sstables (benchmarks use it to read
// through bloom filters rather than the memtable).
func FlushForTest(db *DB) error { return db.pdb.Flush() }
