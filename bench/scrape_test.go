package bench

import (
	"strings"
	"testing"
	"time"
)

func TestParseMetrics(t *testing.T) {
	text := `# HELP strata_shard_cursor Last STRATA_EVENTS sequence applied by the shard's FSM on this node.
# TYPE strata_shard_cursor gauge
strata_shard_cursor{shard="0"} 1234
strata_shard_cursor{shard="7"} 9.007199254740992e+15
strata_shard_cursor_other 5
process_resident_memory_bytes 1.2345678e+08
process_cpu_seconds_total 12.5
strata_events_applied_total 300
strata_transitions_published_total{dimension="value"} 10
strata_transitions_published_total{dimension="lifecycle"} 32
strata_snapshot_restores_total 1
strata_pebble_disk_bytes 4096
go_goroutines 42
`
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.cursors) != 2 || m.cursors[0] != 1234 || m.cursors[7] != 9007199254740992 {
		t.Fatalf("cursors %v", m.cursors)
	}
	if m.rss != 123456780 || m.cpu != 12500*time.Millisecond || m.applied != 300 || m.published != 42 ||
		m.restores != 1 || m.pebbleBytes != 4096 {
		t.Fatalf("metrics %+v", m)
	}
	if _, err := parseMetrics(strings.NewReader(`strata_shard_cursor{shard="x"} 1` + "\n")); err == nil {
		t.Fatal("a cursor without a numeric shard parsed")
	}
	if _, err := parseMetrics(strings.NewReader("strata_events_applied_total twelve\n")); err == nil {
		t.Fatal("a non-numeric value parsed")
	}
}

func TestVmRSS(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"Name:\tx\nVmHWM:\t  900 kB\nVmRSS:\t  1234 kB\nRssAnon:\t 1 kB\n", 1234 * 1024, true},
		{"Name:\tx\n", 0, false},
		{"VmRSS:\t12 MB\n", 0, false},
	} {
		if got, ok := vmRSS([]byte(tc.in)); got != tc.want || ok != tc.ok {
			t.Errorf("vmRSS(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestTransitionCause(t *testing.T) {
	tr := &transitions{prefix: []byte(`"cause":"` + idPrefix(7, "abc"))}
	for _, tc := range []struct {
		msg  string
		want int64
		ok   bool
	}{
		{`{"user":"u1","cause":"s7-abc-e42","scores":{}}`, 42, true},
		{`{"user":"u1","cause":"timer"}`, 0, false},
		{`{"user":"u1","cause":"s7-e42"}`, 0, false},     // another run's event
		{`{"user":"u1","cause":"s7-abc-e4x"}`, 0, false}, // not an index
	} {
		if i, ok := tr.cause([]byte(tc.msg)); i != tc.want || ok != tc.ok {
			t.Errorf("cause(%s) = %d, %v; want %d, %v", tc.msg, i, ok, tc.want, tc.ok)
		}
	}
}

func TestSendMarks(t *testing.T) {
	m := newSendMarks(200)
	for i := range int64(200) {
		m.mark(i, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		i    int64
		want time.Duration
	}{{0, 0}, {63, 0}, {64, 64 * time.Millisecond}, {199, 192 * time.Millisecond}} {
		if got, ok := m.sentNear(tc.i); !ok || got != tc.want {
			t.Errorf("sentNear(%d) = %v, %v; want %v", tc.i, got, ok, tc.want)
		}
	}
	if _, ok := m.sentNear(10_000); ok {
		t.Fatal("a mark past the events")
	}
}

func TestProgressLine(t *testing.T) {
	var b strings.Builder
	l := &ProgressLine{W: &b, Every: 5 * time.Second}
	for s := 1; s <= 12; s++ {
		l.Update(Progress{Phase: "strata", Elapsed: time.Duration(s) * time.Second, Published: int64(s) * 100, P99: 2.5, RSSBytes: 64 << 20})
	}
	l.Update(Progress{Phase: "ceiling", Elapsed: 13 * time.Second, P99: -1})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "published 100 ") || !strings.Contains(lines[1], "published 600 ") ||
		!strings.Contains(lines[2], "published 1100 ") || !strings.HasPrefix(lines[3], "ceiling") {
		t.Fatalf("off a terminal, want lines at 1 s, 6 s, 11 s and on the phase change; got\n%s", b.String())
	}
	if !strings.Contains(lines[0], "p99 2.5 ms") || !strings.Contains(lines[0], "rss 64 MiB") || !strings.Contains(lines[3], "p99 —") {
		t.Fatalf("fields missing:\n%s", b.String())
	}
	b.Reset()
	l = &ProgressLine{W: &b, Terminal: true}
	l.Update(Progress{Phase: "strata", Elapsed: time.Second, Published: 123456})
	l.Update(Progress{Phase: "strata", Elapsed: 2 * time.Second, Published: 1})
	l.Done()
	out := b.String()
	if strings.Count(out, "\r") != 2 || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("on a terminal, want two rewrites of one line and a final newline; got %q", out)
	}
	second := out[strings.LastIndex(out, "\r")+1 : len(out)-1]
	first := out[1:strings.LastIndex(out, "\r")]
	if len([]rune(second)) < len([]rune(first)) {
		t.Fatalf("the shorter line does not cover the longer one: %q then %q", first, second)
	}
}
