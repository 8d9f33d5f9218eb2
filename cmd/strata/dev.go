package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/strata-io/strata/node"
)

// devOptions are the flags of `strata dev`.
type devOptions struct {
	dir          string // --dir: root of every node's data and the NATS store; default ./strata-dev
	nodes        int    // --nodes: child processes; default 3
	natsListen   string // --nats-listen: embedded NATS address; default 127.0.0.1:4222
	httpBasePort int    // --http-base-port: node i listens on 127.0.0.1:base+i-1; default 8080
	raftBasePort int    // --raft-base-port: node i's Raft address is 127.0.0.1:base+i-1; default 7400
	shards       int    // --shards: passed to every node; 0 passes nothing (serve's default)
	logLevel     string // --log-level: passed to every node and used by dev itself; "" passes nothing (info)
}

const (
	// devStopTimeout is how long dev waits for its nodes after SIGTERM before SIGKILL.
	devStopTimeout = 30 * time.Second
	// devNATSReady bounds the wait for the embedded NATS server.
	devNATSReady = 10 * time.Second
	// devHost is where every node listens.
	devHost = "127.0.0.1"
)

func defaultDevOptions() devOptions {
	return devOptions{dir: "./strata-dev", nodes: 3, natsListen: "127.0.0.1:4222", httpBasePort: 8080, raftBasePort: 7400}
}

// bindDevFlags registers dev's flags on fs.
func bindDevFlags(fs *pflag.FlagSet) *devOptions {
	o := defaultDevOptions()
	fs.StringVar(&o.dir, "dir", o.dir, "directory for every node's data (<dir>/n<i>) and the NATS store (<dir>/nats)")
	fs.IntVar(&o.nodes, "nodes", o.nodes, "number of nodes")
	fs.StringVar(&o.natsListen, "nats-listen", o.natsListen, "listen address of the embedded NATS server")
	fs.IntVar(&o.httpBasePort, "http-base-port", o.httpBasePort, "HTTP port of n1; node i uses base+i-1")
	fs.IntVar(&o.raftBasePort, "raft-base-port", o.raftBasePort, "Raft port of n1; node i uses base+i-1")
	fs.IntVar(&o.shards, "shards", 0, "number of shards, passed to every node (default: serve's)")
	fs.StringVar(&o.logLevel, "log-level", "", "log level, passed to every node (default info)")
	return &o
}

// validate reports the first bad option, quoting it; it never changes o.
func (o devOptions) validate() error {
	portRange := func(name string, base int) error {
		if base < 1 || base+o.nodes-1 > 65535 {
			return fmt.Errorf("dev: --%s %d: %d nodes need ports %d..%d within 1..65535", name, base, o.nodes, base, base+o.nodes-1)
		}
		return nil
	}
	inRange := func(port, base int) bool { return port >= base && port < base+o.nodes }
	switch {
	case o.dir == "":
		return errors.New("dev: --dir is empty")
	case o.nodes < 1:
		return fmt.Errorf("dev: --nodes %d: want ≥ 1", o.nodes)
	case o.shards < 0:
		return fmt.Errorf("dev: --shards %d: want ≥ 1 (or 0 for serve's default)", o.shards)
	case o.logLevel != "" && hclog.LevelFromString(o.logLevel) == hclog.NoLevel:
		return fmt.Errorf("dev: --log-level %q: want trace, debug, info, warn or error", o.logLevel)
	}
	if err := portRange("http-base-port", o.httpBasePort); err != nil {
		return err
	}
	if err := portRange("raft-base-port", o.raftBasePort); err != nil {
		return err
	}
	if inRange(o.raftBasePort, o.httpBasePort) || inRange(o.httpBasePort, o.raftBasePort) {
		return fmt.Errorf("dev: HTTP ports %d.. and Raft ports %d.. overlap for %d nodes", o.httpBasePort, o.raftBasePort, o.nodes)
	}
	_, portS, err := net.SplitHostPort(o.natsListen)
	if err != nil {
		return fmt.Errorf("dev: --nats-listen %q: %w", o.natsListen, err)
	}
	port, err := strconv.Atoi(portS)
	if err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("dev: --nats-listen %q: port %q: want 0..65535", o.natsListen, portS)
	}
	if port != 0 && (inRange(port, o.httpBasePort) || inRange(port, o.raftBasePort)) {
		return fmt.Errorf("dev: --nats-listen %q: port %d is also a node's HTTP or Raft port", o.natsListen, port)
	}
	return nil
}

// devChild is one node of the dev cluster.
type devChild struct {
	id       string   // n1..nN
	httpAddr string   // 127.0.0.1:<http base + i-1>
	raftAddr string   // 127.0.0.1:<raft base + i-1>
	dataDir  string   // <dir>/n<i>
	args     []string // arguments of the executable: "serve", flags...
}

// devPlan returns the nodes for o (validated) talking to NATS at natsURL. Node
// n1 forms the cluster; every other node joins through n1's Raft address.
func devPlan(o devOptions, natsURL string) []devChild {
	first := net.JoinHostPort(devHost, strconv.Itoa(o.raftBasePort))
	children := make([]devChild, o.nodes)
	for i := range children {
		c := devChild{
			id:       "n" + strconv.Itoa(i+1),
			httpAddr: net.JoinHostPort(devHost, strconv.Itoa(o.httpBasePort+i)),
			raftAddr: net.JoinHostPort(devHost, strconv.Itoa(o.raftBasePort+i)),
		}
		c.dataDir = filepath.Join(o.dir, c.id)
		c.args = []string{"serve", "--node-id", c.id, "--data-dir", c.dataDir, "--http", c.httpAddr,
			"--raft-addr", c.raftAddr, "--nats", natsURL}
		if i > 0 {
			c.args = append(c.args, "--join", first)
		}
		if o.shards > 0 {
			c.args = append(c.args, "--shards", strconv.Itoa(o.shards))
		}
		if o.logLevel != "" {
			c.args = append(c.args, "--log-level", o.logLevel)
		}
		children[i] = c
	}
	return children
}

// devNATSURL is the URL nodes use for a server listening on listen (host
// part) and bound to port: an unspecified host becomes 127.0.0.1.
func devNATSURL(listen string, port int) string {
	host, _, _ := net.SplitHostPort(listen)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = devHost
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// devStrippedEnv are STRATA_* variables the children must not inherit: they
// would make n1 join somewhere or nodes advertise a foreign address.
var devStrippedEnv = []string{"STRATA_JOIN", "STRATA_ADVERTISE"}

// devEnv returns environ without devStrippedEnv, and the names it removed.
func devEnv(environ []string) (env, removed []string) {
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if slices.Contains(devStrippedEnv, name) {
			removed = append(removed, name)
			continue
		}
		env = append(env, kv)
	}
	return env, removed
}

// shellLine renders argv as a POSIX shell command line.
func shellLine(argv []string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = shellQuote(a)
	}
	return strings.Join(quoted, " ")
}

func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func devCmd() *cobra.Command {
	var o *devOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local cluster: embedded NATS and --nodes `strata serve` processes",
		Long: `Run a local Strata cluster for development: one embedded NATS server with
JetStream and --nodes child processes of this binary running "strata serve" on
127.0.0.1 (node i: HTTP on --http-base-port+i-1, Raft on --raft-base-port+i-1,
data in <dir>/n<i>). n1 forms the cluster; the others join through n1.

Each node's output is prefixed with [n<i>]. A node that exits is reported and
the others keep running; restart it by hand with the command line printed at
start (it then runs outside dev). Ctrl-C stops the nodes (SIGTERM, SIGKILL
after 30s), then NATS.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("dev: own executable: %w", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runDev(ctx, *o, exe, os.Stdout, os.Stderr)
		},
	}
	o = bindDevFlags(cmd.Flags())
	return cmd
}

// childExit reports that a child process ended; err is from exec.Cmd.Wait.
type childExit struct {
	child int
	err   error
}

// runDev runs the dev cluster until ctx ends. Its goroutine owns the child
// processes; each child's Wait runs on its own goroutine and reports on exits.
func runDev(ctx context.Context, o devOptions, exe string, stdout, stderr io.Writer) error {
	dir, err := filepath.Abs(o.dir) // printed command lines work from any directory
	if err != nil {
		return fmt.Errorf("dev: --dir %q: %w", o.dir, err)
	}
	o.dir = dir
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	out, errOut := &lockedWriter{}, &lockedWriter{}
	out.mu.w, errOut.mu.w = stdout, stderr
	level := hclog.Info
	if o.logLevel != "" {
		level = hclog.LevelFromString(o.logLevel)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "dev", Level: level, Output: errOut})

	ns, natsURL, err := startDevNATS(o)
	if err != nil {
		return err
	}
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
		log.Info("nats stopped")
	}()

	children := devPlan(o, natsURL)
	printDevPlan(out, exe, natsURL, filepath.Join(o.dir, "nats"), children)
	env, removed := devEnv(os.Environ())
	if len(removed) > 0 {
		log.Warn("not passing these variables to the nodes", "vars", removed)
	}

	exits := make(chan childExit, len(children))
	procs := make([]*exec.Cmd, len(children))
	alive := 0
	for i, c := range children {
		p := exec.Command(exe, c.args...)
		p.Env = env
		pOut := &prefixWriter{out: out, prefix: "[" + c.id + "] "}
		pErr := &prefixWriter{out: errOut, prefix: "[" + c.id + "] "}
		p.Stdout, p.Stderr = pOut, pErr
		if err := p.Start(); err != nil {
			err = fmt.Errorf("dev: start %s: %w", c.id, err)
			return errors.Join(err, stopChildren(log, children, procs, exits, alive))
		}
		procs[i] = p
		alive++
		log.Info("node started", "node", c.id, "pid", p.Process.Pid)
		go func() {
			err := p.Wait() // returns once the output copies are done
			pOut.flush()
			pErr.flush()
			exits <- childExit{child: i, err: err}
		}()
	}

	for {
		select {
		case <-ctx.Done():
			log.Info("stopping nodes")
			return stopChildren(log, children, procs, exits, alive)
		case e := <-exits:
			alive--
			procs[e.child] = nil
			c := children[e.child]
			if ctx.Err() != nil { // Ctrl-C reached the node too; stopChildren follows
				log.Info("node stopped", "node", c.id, "status", exitStatus(e.err))
				continue
			}
			log.Warn("node exited; the others keep running", "node", c.id, "status", exitStatus(e.err),
				"restart", shellLine(append([]string{exe}, c.args...)))
			if alive == 0 {
				log.Warn("every node has exited; NATS keeps running until Ctrl-C")
			}
		}
	}
}

// exitStatus describes the result of exec.Cmd.Wait.
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// stopChildren sends SIGTERM to the alive children in procs (nil entries have
// exited), waits up to devStopTimeout for their exits, then kills the rest.
func stopChildren(log hclog.Logger, children []devChild, procs []*exec.Cmd, exits <-chan childExit, alive int) error {
	for i, p := range procs {
		if p == nil {
			continue
		}
		if err := p.Process.Signal(syscall.SIGTERM); err != nil {
			log.Warn("SIGTERM failed; killing", "node", children[i].id, "error", err)
			_ = p.Process.Kill()
		}
	}
	var errs []error
	timeout := time.NewTimer(devStopTimeout)
	defer timeout.Stop()
	for alive > 0 {
		select {
		case e := <-exits:
			alive--
			procs[e.child] = nil
			if e.err != nil {
				errs = append(errs, fmt.Errorf("dev: %s: %w", children[e.child].id, e.err))
			} else {
				log.Info("node stopped", "node", children[e.child].id)
			}
		case <-timeout.C:
			for i, p := range procs {
				if p != nil {
					log.Warn("node did not stop in time; killing", "node", children[i].id, "timeout", devStopTimeout)
					_ = p.Process.Kill()
				}
			}
		}
	}
	return errors.Join(errs...)
}

// startDevNATS starts the embedded NATS server with JetStream the nodes share,
// storing under <dir>/nats, and returns it with the URL nodes connect to.
func startDevNATS(o devOptions) (*server.Server, string, error) {
	host, portS, _ := net.SplitHostPort(o.natsListen) // validated
	port, _ := strconv.Atoi(portS)
	if port == 0 {
		port = server.RANDOM_PORT
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: "strata-dev", Host: host, Port: port,
		JetStream: true, StoreDir: filepath.Join(o.dir, "nats"),
		SyncInterval: node.DefaultConfig().NATSSyncInterval,
		NoSigs:       true, NoLog: true, MaxPayload: server.MAX_PAYLOAD_SIZE,
	})
	if err != nil {
		return nil, "", fmt.Errorf("dev: nats: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(devNATSReady) {
		ns.Shutdown()
		return nil, "", fmt.Errorf("dev: nats on %s did not become ready in %s", o.natsListen, devNATSReady)
	}
	addr, ok := ns.Addr().(*net.TCPAddr)
	if !ok {
		ns.Shutdown()
		return nil, "", fmt.Errorf("dev: nats listener address %v", ns.Addr())
	}
	return ns, devNATSURL(o.natsListen, addr.Port), nil
}

// printDevPlan writes the table of nodes and their command lines.
func printDevPlan(w io.Writer, exe, natsURL, natsDir string, children []devChild) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "strata dev: %d nodes, NATS with JetStream at %s (store %s)\n\n", len(children), natsURL, natsDir)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tHTTP\tRAFT\tDATA")
	for _, c := range children {
		fmt.Fprintf(tw, "%s\thttp://%s\t%s\t%s\n", c.id, c.httpAddr, c.raftAddr, c.dataDir)
	}
	tw.Flush()
	fmt.Fprintln(&b, "\nCommand lines (kill a node's process to stop it; run its line to restart it by hand):")
	for _, c := range children {
		fmt.Fprintf(&b, "  %s: %s\n", c.id, shellLine(append([]string{exe}, c.args...)))
	}
	fmt.Fprintln(&b)
	w.Write(b.Bytes())
}

// lockedWriter serialises writes from several children to one output.
type lockedWriter struct {
	mu struct {
		sync.Mutex
		w io.Writer
	}
}

// Write writes p in one call to the underlying writer. Errors are dropped: a
// closed terminal must not stall the children on a full pipe.
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.mu.w.Write(p)
	return len(p), nil
}

// prefixWriter writes whole lines, each starting with prefix, to out. Only
// exec's copying goroutine writes to it, then flush runs after Wait.
type prefixWriter struct {
	out    io.Writer
	prefix string
	line   []byte // prefix and the current partial line; empty between lines
}

// maxDevLine splits longer lines so one runaway line cannot grow the buffer.
const maxDevLine = 64 << 10

func (w *prefixWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(w.line) == 0 {
			w.line = append(w.line, w.prefix...)
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.line = append(w.line, p...)
			if len(w.line) >= maxDevLine {
				w.flush()
			}
			break
		}
		w.line = append(w.line, p[:i+1]...)
		p = p[i+1:]
		w.out.Write(w.line)
		w.line = w.line[:0]
	}
	return n, nil
}

// flush writes a pending partial line, ending it with a newline.
func (w *prefixWriter) flush() {
	if len(w.line) == 0 {
		return
	}
	w.out.Write(append(w.line, '\n'))
	w.line = w.line[:0]
}
