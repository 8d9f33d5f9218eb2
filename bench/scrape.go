package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// nodeMetrics is what the bench reads from one node's GET /metrics.
type nodeMetrics struct {
	cursors     map[int]uint64 // strata_shard_cursor by shard
	rss         int64          // process_resident_memory_bytes
	cpu         time.Duration  // process_cpu_seconds_total
	applied     int64          // strata_events_applied_total
	published   int64          // strata_transitions_published_total, every dimension
	restores    int64          // strata_snapshot_restores_total
	pebbleBytes int64          // strata_pebble_disk_bytes
}

// parseMetrics reads the series the bench needs from Prometheus' text
// format, ignoring every other line.
func parseMetrics(r io.Reader) (nodeMetrics, error) {
	m := nodeMetrics{cursors: map[int]uint64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		sp := bytes.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		series, value := line[:sp], string(line[sp+1:])
		name, labels, _ := bytes.Cut(series, []byte("{"))
		var set func(float64)
		switch string(name) {
		case "strata_shard_cursor":
			_, rest, ok := bytes.Cut(labels, []byte(`shard="`))
			shard, _, _ := bytes.Cut(rest, []byte(`"`))
			k, err := strconv.Atoi(string(shard))
			if !ok || err != nil {
				return m, fmt.Errorf("bench: metrics: bad strata_shard_cursor series %q", series)
			}
			set = func(v float64) { m.cursors[k] = uint64(v) }
		case "process_resident_memory_bytes":
			set = func(v float64) { m.rss = int64(v) }
		case "process_cpu_seconds_total":
			set = func(v float64) { m.cpu = time.Duration(v * float64(time.Second)) }
		case "strata_events_applied_total":
			set = func(v float64) { m.applied += int64(v) }
		case "strata_transitions_published_total":
			set = func(v float64) { m.published += int64(v) }
		case "strata_snapshot_restores_total":
			set = func(v float64) { m.restores += int64(v) }
		case "strata_pebble_disk_bytes":
			set = func(v float64) { m.pebbleBytes += int64(v) }
		default:
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return m, fmt.Errorf("bench: metrics: %s: bad value %q", name, value)
		}
		set(v)
	}
	return m, sc.Err()
}

// scrape fetches and parses one node's metrics.
func scrape(ctx context.Context, client *http.Client, base string) (nodeMetrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nodeMetrics{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nodeMetrics{}, fmt.Errorf("bench: %s/metrics: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nodeMetrics{}, fmt.Errorf("bench: %s/metrics: %s", base, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// scrapeAll scrapes every node, concurrently.
func scrapeAll(ctx context.Context, client *http.Client, bases []string) ([]nodeMetrics, error) {
	out := make([]nodeMetrics, len(bases))
	errs := make([]error, len(bases))
	var wg sync.WaitGroup
	for i, b := range bases {
		wg.Go(func() { out[i], errs[i] = scrape(ctx, client, b) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// poller scrapes every node every period and keeps the latest cursors and
// resource figures for the tracker (cursors, usage), which reads them from
// its own goroutine without waiting on HTTP.
type poller struct {
	cursors [][]atomic.Uint64 // [node][shard]; 0: the node showed no cursor for it
	rss     []atomic.Int64
	cpu     []atomic.Int64 // ns
	failed  atomic.Int64   // scrapes that failed (the next one retries)
	cancel  context.CancelFunc
	done    chan struct{}
}

func startPoller(client *http.Client, bases []string, shards int, every time.Duration) *poller {
	ctx, cancel := context.WithCancel(context.Background())
	p := &poller{cursors: make([][]atomic.Uint64, len(bases)), rss: make([]atomic.Int64, len(bases)),
		cpu: make([]atomic.Int64, len(bases)), cancel: cancel, done: make(chan struct{})}
	for i := range p.cursors {
		p.cursors[i] = make([]atomic.Uint64, shards)
	}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			var wg sync.WaitGroup
			for i, b := range bases {
				wg.Go(func() {
					m, err := scrape(ctx, client, b)
					if err != nil {
						p.failed.Add(1)
						return
					}
					for k, c := range m.cursors {
						if k >= 0 && k < shards {
							p.cursors[i][k].Store(c)
						}
					}
					p.rss[i].Store(m.rss)
					p.cpu[i].Store(int64(m.cpu))
				})
			}
			wg.Wait()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

func (p *poller) stop() {
	p.cancel()
	<-p.done
}

// read is the poller's cursorSource.
func (p *poller) read(k int, dst []uint64) []uint64 {
	for i := range p.cursors {
		if c := p.cursors[i][k].Load(); c > 0 {
			dst = append(dst, c)
		}
	}
	return dst
}

// usage is the poller's usageSource: the nodes' RSS and CPU time, summed.
func (p *poller) usage() (rss int64, cpu time.Duration, ok bool) {
	for i := range p.rss {
		rss += p.rss[i].Load()
		cpu += time.Duration(p.cpu[i].Load())
	}
	return rss, cpu, rss > 0
}
