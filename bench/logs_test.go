package bench

import (
	"bytes"
	"testing"
)

func TestNodeLog(t *testing.T) {
	const (
		raftWarn   = "2026-11-23T06:57:01.212Z [WARN]  n1.raft: heartbeat timeout reached, starting election\n"
		raftError  = "2026-11-23T06:57:01.212Z [ERROR] n1.raft.transport: failed to decode incoming command\n"
		strataWarn = "2026-11-23T06:57:06.712Z [WARN]  n1.cluster: tick failed: shard=3\n"
		raftLike   = "2026-11-23T06:57:06.712Z [WARN]  n1.cluster: raft.x: not from raft\n"
	)
	for _, tc := range []struct {
		phase int32
		line  string
		shown bool
	}{
		{forming, raftWarn, false},
		{forming, raftError, false},
		{forming, strataWarn, true},
		{running, raftWarn, false},
		{running, raftError, true},
		{running, strataWarn, true},
		{running, raftLike, true},
		{closing, raftError, false},
		{closing, strataWarn, false},
	} {
		var out bytes.Buffer
		w := &nodeLog{out: &out}
		w.phase.Store(tc.phase)
		if n, err := w.Write([]byte(tc.line)); n != len(tc.line) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		if shown := out.Len() > 0; shown != tc.shown {
			t.Errorf("phase %d, %q: shown %v, want %v", tc.phase, tc.line, shown, tc.shown)
		}
	}
}
