package cluster

import (
	"fmt"
	"testing"
)

func recs(from, to int) [][]byte {
	var out [][]byte
	for i := from; i <= to; i++ {
		out = append(out, []byte(fmt.Sprint(i)))
	}
	return out
}

// seqs returns what appendFrom hands out from seq from, as the numbers the
// records hold.
func tailSeqs(t *outboxTail, from uint64, max int) []string {
	var out []string
	for _, r := range t.appendFrom(nil, from, max) {
		out = append(out, string(r))
	}
	return out
}

func TestOutboxTail(t *testing.T) {
	var tail outboxTail
	if got := tailSeqs(&tail, 1, 10); got != nil {
		t.Fatalf("empty tail handed out %v", got)
	}
	tail.add(1, recs(1, 5))
	tail.add(6, recs(6, 8))
	if got := fmt.Sprint(tailSeqs(&tail, 3, 4)); got != "[3 4 5 6]" {
		t.Fatalf("from 3 max 4 = %s", got)
	}
	if got := fmt.Sprint(tailSeqs(&tail, 7, 100)); got != "[7 8]" {
		t.Fatalf("from 7 = %s", got)
	}
	if got := tailSeqs(&tail, 9, 10); got != nil {
		t.Fatalf("past the end handed out %v", got)
	}
	tail.trim(4)
	if got := tailSeqs(&tail, 4, 10); got != nil {
		t.Fatalf("trimmed seq 4 handed out %v", got)
	}
	if got := fmt.Sprint(tailSeqs(&tail, 5, 10)); got != "[5 6 7 8]" {
		t.Fatalf("after trim from 5 = %s", got)
	}
	tail.trim(100) // beyond everything held
	if got := tailSeqs(&tail, 8, 10); got != nil {
		t.Fatalf("trimmed all, handed out %v", got)
	}
	// Records not contiguous with the tail (a restore) replace it.
	tail.add(20, recs(20, 21))
	tail.add(30, recs(30, 31))
	if got := tailSeqs(&tail, 20, 10); got != nil {
		t.Fatalf("replaced records handed out %v", got)
	}
	if got := fmt.Sprint(tailSeqs(&tail, 30, 10)); got != "[30 31]" {
		t.Fatalf("from 30 = %s", got)
	}
	tail.reset()
	if got := tailSeqs(&tail, 30, 10); got != nil {
		t.Fatalf("reset tail handed out %v", got)
	}
}

// TestOutboxTailBounded checks that the tail keeps the newest outboxTailMax
// records and its memory stays bounded while records stream through.
func TestOutboxTailBounded(t *testing.T) {
	var tail outboxTail
	rec := []byte("x")
	next := uint64(1)
	for range 20 * outboxTailMax {
		tail.add(next, [][]byte{rec})
		next++
		if c := cap(tail.recs); c > 4*outboxTailMax {
			t.Fatalf("capacity %d with %d live records", c, len(tail.recs))
		}
	}
	if len(tail.recs) != outboxTailMax || tail.first != next-outboxTailMax {
		t.Fatalf("holds %d records from %d, want %d from %d", len(tail.recs), tail.first, outboxTailMax, next-outboxTailMax)
	}
	if got := tail.appendFrom(nil, next-outboxTailMax-1, 1); got != nil {
		t.Fatalf("evicted record handed out")
	}
}
