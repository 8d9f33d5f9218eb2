package main

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// parseDev parses dev's flags as the command line would.
func parseDev(t *testing.T, args ...string) devOptions {
	t.Helper()
	fs := pflag.NewFlagSet("dev", pflag.ContinueOnError)
	o := bindDevFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return *o
}

func TestDevPlanDefaults(t *testing.T) {
	o := parseDev(t)
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	got := devPlan(o, "nats://127.0.0.1:4222")
	dir := "strata-dev"
	want := []devChild{
		{id: "n1", httpAddr: "127.0.0.1:8080", raftAddr: "127.0.0.1:7400", dataDir: filepath.Join(dir, "n1"),
			args: []string{"serve", "--node-id", "n1", "--data-dir", filepath.Join(dir, "n1"), "--http", "127.0.0.1:8080",
				"--raft-addr", "127.0.0.1:7400", "--nats", "nats://127.0.0.1:4222"}},
		{id: "n2", httpAddr: "127.0.0.1:8081", raftAddr: "127.0.0.1:7401", dataDir: filepath.Join(dir, "n2"),
			args: []string{"serve", "--node-id", "n2", "--data-dir", filepath.Join(dir, "n2"), "--http", "127.0.0.1:8081",
				"--raft-addr", "127.0.0.1:7401", "--nats", "nats://127.0.0.1:4222", "--join", "127.0.0.1:7400"}},
		{id: "n3", httpAddr: "127.0.0.1:8082", raftAddr: "127.0.0.1:7402", dataDir: filepath.Join(dir, "n3"),
			args: []string{"serve", "--node-id", "n3", "--data-dir", filepath.Join(dir, "n3"), "--http", "127.0.0.1:8082",
				"--raft-addr", "127.0.0.1:7402", "--nats", "nats://127.0.0.1:4222", "--join", "127.0.0.1:7400"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("devPlan(defaults) =\n%+v\nwant\n%+v", got, want)
	}
}

func TestDevPlan(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		nats string
		// want, per node: id, http, raft, data dir and the flags after --nats
		want [][5]string
		rest [][]string
	}{
		{
			name: "one node forms the cluster alone",
			args: []string{"--nodes", "1", "--dir", "/tmp/d"},
			nats: "nats://127.0.0.1:4222",
			want: [][5]string{{"n1", "127.0.0.1:8080", "127.0.0.1:7400", "/tmp/d/n1"}},
			rest: [][]string{nil},
		},
		{
			name: "ports, shards and log level",
			args: []string{"--nodes", "5", "--dir", "/x", "--http-base-port", "9000", "--raft-base-port", "9100",
				"--shards", "4", "--log-level", "debug"},
			nats: "nats://127.0.0.1:5222",
			want: [][5]string{
				{"n1", "127.0.0.1:9000", "127.0.0.1:9100", "/x/n1"},
				{"n2", "127.0.0.1:9001", "127.0.0.1:9101", "/x/n2"},
				{"n3", "127.0.0.1:9002", "127.0.0.1:9102", "/x/n3"},
				{"n4", "127.0.0.1:9003", "127.0.0.1:9103", "/x/n4"},
				{"n5", "127.0.0.1:9004", "127.0.0.1:9104", "/x/n5"},
			},
			rest: [][]string{
				{"--shards", "4", "--log-level", "debug"},
				{"--join", "127.0.0.1:9100", "--shards", "4", "--log-level", "debug"},
				{"--join", "127.0.0.1:9100", "--shards", "4", "--log-level", "debug"},
				{"--join", "127.0.0.1:9100", "--shards", "4", "--log-level", "debug"},
				{"--join", "127.0.0.1:9100", "--shards", "4", "--log-level", "debug"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := parseDev(t, tc.args...)
			if err := o.validate(); err != nil {
				t.Fatal(err)
			}
			got := devPlan(o, tc.nats)
			if len(got) != len(tc.want) {
				t.Fatalf("%d children, want %d", len(got), len(tc.want))
			}
			for i, c := range got {
				w := tc.want[i]
				if c.id != w[0] || c.httpAddr != w[1] || c.raftAddr != w[2] || c.dataDir != filepath.FromSlash(w[3]) {
					t.Errorf("child %d = %s %s %s %s, want %v", i, c.id, c.httpAddr, c.raftAddr, c.dataDir, w)
				}
				args := append([]string{"serve", "--node-id", w[0], "--data-dir", filepath.FromSlash(w[3]), "--http", w[1],
					"--raft-addr", w[2], "--nats", tc.nats}, tc.rest[i]...)
				if !reflect.DeepEqual(c.args, args) {
					t.Errorf("%s args = %q\nwant %q", c.id, c.args, args)
				}
			}
		})
	}
}

func TestDevOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // substring of the error; "" means valid
	}{
		{nil, ""},
		{[]string{"--nats-listen", "0.0.0.0:0"}, ""},
		{[]string{"--nodes", "0"}, `--nodes 0`},
		{[]string{"--dir", ""}, `--dir is empty`},
		{[]string{"--shards", "-1"}, `--shards -1`},
		{[]string{"--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"--http-base-port", "65534"}, `--http-base-port 65534`},
		{[]string{"--raft-base-port", "0"}, `--raft-base-port 0`},
		{[]string{"--http-base-port", "7402"}, `overlap`},
		{[]string{"--raft-base-port", "8082"}, `overlap`},
		{[]string{"--nats-listen", "127.0.0.1:8081"}, `port 8081`},
		{[]string{"--nats-listen", "4222"}, `--nats-listen "4222"`},
		{[]string{"--nats-listen", "127.0.0.1:nats"}, `port "nats"`},
	} {
		err := parseDev(t, tc.args...).validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

func TestDevNATSURL(t *testing.T) {
	for _, tc := range []struct {
		listen string
		port   int
		want   string
	}{
		{"127.0.0.1:4222", 4222, "nats://127.0.0.1:4222"},
		{"127.0.0.1:0", 41234, "nats://127.0.0.1:41234"},
		{":4222", 4222, "nats://127.0.0.1:4222"},
		{"0.0.0.0:4222", 4222, "nats://127.0.0.1:4222"},
		{"[::]:4222", 4222, "nats://127.0.0.1:4222"},
		{"[::1]:4222", 4222, "nats://[::1]:4222"},
		{"localhost:4222", 4222, "nats://localhost:4222"},
	} {
		if got := devNATSURL(tc.listen, tc.port); got != tc.want {
			t.Errorf("devNATSURL(%q, %d) = %q, want %q", tc.listen, tc.port, got, tc.want)
		}
	}
}

func TestDevEnv(t *testing.T) {
	env, removed := devEnv([]string{"PATH=/bin", "STRATA_JOIN=10.0.0.1:7400", "STRATA_SHARDS=4", "STRATA_ADVERTISE=x", "STRATA_JOINED=1"})
	if want := []string{"PATH=/bin", "STRATA_SHARDS=4", "STRATA_JOINED=1"}; !reflect.DeepEqual(env, want) {
		t.Errorf("env = %q, want %q", env, want)
	}
	if want := []string{"STRATA_JOIN", "STRATA_ADVERTISE"}; !reflect.DeepEqual(removed, want) {
		t.Errorf("removed = %q, want %q", removed, want)
	}
}

func TestShellLine(t *testing.T) {
	got := shellLine([]string{"/opt/my strata/strata", "serve", "--data-dir", "/tmp/it's", "--nats", "nats://127.0.0.1:4222", ""})
	want := `'/opt/my strata/strata' serve --data-dir '/tmp/it'\''s' --nats nats://127.0.0.1:4222 ''`
	if got != want {
		t.Errorf("shellLine = %s\nwant        %s", got, want)
	}
}

func TestPrefixWriter(t *testing.T) {
	var out bytes.Buffer
	lw := &lockedWriter{}
	lw.mu.w = &out
	w := &prefixWriter{out: lw, prefix: "[n2] "}
	for _, chunk := range []string{"first li", "ne\nsecond\n", "", "\nthird ", "part", "ial"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	if want := "[n2] first line\n[n2] second\n[n2] \n"; out.String() != want {
		t.Errorf("before flush: %q, want %q", out.String(), want)
	}
	w.flush()
	w.flush()
	if want := "[n2] first line\n[n2] second\n[n2] \n[n2] third partial\n"; out.String() != want {
		t.Errorf("after flush: %q, want %q", out.String(), want)
	}

	out.Reset()
	w.Write(bytes.Repeat([]byte("x"), maxDevLine+10))
	if lines := strings.Count(out.String(), "\n"); lines != 1 || !strings.HasPrefix(out.String(), "[n2] xxx") {
		t.Errorf("runaway line: %d lines written, want the first %d bytes split off", lines, maxDevLine)
	}
}
