package cluster

import "sync"

// outboxTailMax bounds the records an outboxTail keeps (about 400 bytes
// each). A publisher further behind than that reads Pebble instead.
const outboxTailMax = 4096

// outboxTail keeps the newest committed outbox records of a shard in memory,
// so that the leader's publisher takes them as the FSM wrote them instead of
// reading them back from Pebble. A Pebble scan from the publisher's position
// costs a seek through the memtable, and the records it steps over were
// mostly trimmed already: profiles of 1-node runs showed it at 8% of the
// process's CPU.
//
// It is a cache: the records are in Pebble too, and whatever it does not
// hold (after a restart, a snapshot restore, or a publisher behind by more
// than outboxTailMax) is read from there. The FSM adds records only after the
// Pebble commit that stores them, so nothing it hands out can be rolled back.
type outboxTail struct {
	mu    sync.Mutex
	first uint64   // seq of recs[0]
	recs  [][]byte // records first, first+1, …; never modified once added
}

// add appends the records with seqs from, from+1, … . Records not contiguous
// with those held (after a restore) replace them.
func (t *outboxTail) add(from uint64, recs [][]byte) {
	if len(recs) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.recs) == 0 || from != t.first+uint64(len(t.recs)) {
		t.recs = t.recs[:0]
		t.first = from
	}
	t.recs = append(t.recs, recs...)
	if over := len(t.recs) - outboxTailMax; over > 0 {
		t.dropLocked(over)
	}
}

// trim forgets the records with seq ≤ upTo.
func (t *outboxTail) trim(upTo uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if upTo >= t.first {
		t.dropLocked(int(min(upTo-t.first+1, uint64(len(t.recs)))))
	}
}

// reset forgets every record (the state was replaced).
func (t *outboxTail) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.recs)
	t.recs = t.recs[:0]
	t.first = 0
}

// dropLocked forgets the n oldest records. Reslicing moves the live part
// forward; append then reallocates at twice the live length, so memory stays
// bounded by outboxTailMax.
func (t *outboxTail) dropLocked(n int) {
	clear(t.recs[:n])
	t.recs = t.recs[n:]
	t.first += uint64(n)
}

// appendFrom appends to dst up to max records from seq from on; it appends
// nothing if from is not held. The records must not be modified.
func (t *outboxTail) appendFrom(dst [][]byte, from uint64, max int) [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	if from < t.first || from >= t.first+uint64(len(t.recs)) {
		return dst
	}
	out := t.recs[from-t.first:]
	return append(dst, out[:min(len(out), max)]...)
}
