package node

import (
	"bytes"
	"io"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/storage"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func itoa(i int) string { return strconv.Itoa(i) }

// pebbleCollector exports Pebble basics at scrape time.
type pebbleCollector struct {
	db                                   *storage.DB
	diskBytes, memtableBytes, cacheBytes *prometheus.Desc
	cacheHits, cacheMisses, walBytes     *prometheus.Desc
	compactions, readAmp                 *prometheus.Desc
}

func newPebbleCollector(db *storage.DB) *pebbleCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &pebbleCollector{
		db:            db,
		diskBytes:     d("strata_pebble_disk_bytes", "Bytes on disk used by Pebble."),
		memtableBytes: d("strata_pebble_memtable_bytes", "Bytes in Pebble memtables."),
		cacheBytes:    d("strata_pebble_block_cache_bytes", "Bytes in the Pebble block cache."),
		cacheHits:     d("strata_pebble_block_cache_hits_total", "Pebble block cache hits."),
		cacheMisses:   d("strata_pebble_block_cache_misses_total", "Pebble block cache misses."),
		walBytes:      d("strata_pebble_wal_bytes_written_total", "Bytes written to the Pebble WAL."),
		compactions:   d("strata_pebble_compactions_total", "Pebble compactions."),
		readAmp:       d("strata_pebble_read_amplification", "Pebble read amplification."),
	}
}

func (c *pebbleCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.diskBytes, c.memtableBytes, c.cacheBytes, c.cacheHits, c.cacheMisses, c.walBytes, c.compactions, c.readAmp} {
		ch <- d
	}
}

func (c *pebbleCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.db.Metrics()
	if m == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.diskBytes, prometheus.GaugeValue, float64(m.DiskSpaceUsage()))
	ch <- prometheus.MustNewConstMetric(c.memtableBytes, prometheus.GaugeValue, float64(m.MemTable.Size))
	ch <- prometheus.MustNewConstMetric(c.cacheBytes, prometheus.GaugeValue, float64(m.BlockCache.Size))
	ch <- prometheus.MustNewConstMetric(c.cacheHits, prometheus.CounterValue, float64(m.BlockCache.Hits))
	ch <- prometheus.MustNewConstMetric(c.cacheMisses, prometheus.CounterValue, float64(m.BlockCache.Misses))
	ch <- prometheus.MustNewConstMetric(c.walBytes, prometheus.CounterValue, float64(m.WAL.BytesWritten))
	ch <- prometheus.MustNewConstMetric(c.compactions, prometheus.CounterValue, float64(m.Compact.Count))
	ch <- prometheus.MustNewConstMetric(c.readAmp, prometheus.GaugeValue, float64(m.ReadAmp()))
}
