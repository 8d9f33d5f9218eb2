//go:build !linux

package bench

import "time"

// peakRSS is not measured off Linux (0).
func peakRSS() int64 { return 0 }

// selfUsage is not measured off Linux (ok false).
func selfUsage() (rss int64, cpu time.Duration, ok bool) { return 0, 0, false }
