package node_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// keptLogLines bounds what a failed test prints of its nodes' logs: the
// lines just before the failure are the useful ones, and a short report
// keeps the failure message itself in view (CI shows a failure's first and
// last lines).
const keptLogLines = 300

// testLog collects the log lines of every node a test runs and prints the
// newest keptLogLines once the test has failed, after its failure message.
// Writes after the test ended are kept, never sent to t.Log (which would
// panic).
type testLog struct {
	mu      sync.Mutex
	lines   []string // ring of the newest lines
	next    int
	dropped int
}

var testLogs sync.Map // testing.TB → *testLog

// testWriter returns the log output for a node of test t.
func testWriter(t testing.TB) *testLog {
	if l, ok := testLogs.Load(t); ok {
		return l.(*testLog)
	}
	l := &testLog{}
	if prev, loaded := testLogs.LoadOrStore(t, l); loaded {
		return prev.(*testLog)
	}
	t.Cleanup(func() {
		testLogs.Delete(t)
		if t.Failed() {
			l.print(t)
		}
	})
	return l
}

func (l *testLog) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < keptLogLines {
		l.lines = append(l.lines, line)
		return len(p), nil
	}
	l.lines[l.next] = line
	l.next = (l.next + 1) % keptLogLines
	l.dropped++
	return len(p), nil
}

func (l *testLog) print(t testing.TB) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	if l.dropped > 0 {
		fmt.Fprintf(&b, "… %d earlier log lines not kept\n", l.dropped)
	}
	for i := range l.lines {
		b.WriteString(l.lines[(l.next+i)%len(l.lines)])
		b.WriteByte('\n')
	}
	t.Logf("node logs, newest %d lines:\n%s", len(l.lines), b.String())
}
