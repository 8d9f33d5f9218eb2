package bench

import (
	"bytes"
	"io"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// nodeLog is where a run's nodes log: at Warn, with Raft's own lines below
// Error dropped (what `strata serve --log-level warn` prints). Raft's
// errors are dropped too while the cluster forms (peers not yet hosting
// their groups) and everything once the run stops the nodes (every group
// reports each departing peer).
type nodeLog struct {
	out   io.Writer
	phase atomic.Int32
}

// Phases of a run, as nodeLog sees them.
const (
	forming int32 = iota
	running
	closing
)

// logger returns the logger of one node.
func (w *nodeLog) logger(name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Warn, Output: w})
}

// Write takes one formatted line ("<time> [LEVEL] <name>: <message>").
func (w *nodeLog) Write(p []byte) (int, error) {
	switch ph := w.phase.Load(); {
	case ph == closing:
		return len(p), nil
	case isRaft(p) && (ph == forming || !bytes.Contains(p, []byte("[ERROR]"))):
		return len(p), nil
	}
	return w.out.Write(p)
}

// isRaft reports whether a line comes from a logger named *.raft or *.raft.*.
func isRaft(line []byte) bool {
	_, rest, ok := bytes.Cut(line, []byte("] "))
	if !ok {
		return false
	}
	name, _, _ := bytes.Cut(bytes.TrimLeft(rest, " "), []byte(":"))
	return bytes.HasSuffix(name, []byte(".raft")) || bytes.Contains(name, []byte(".raft."))
}
