//go:build !linux

package bench

// peakRSS is not measured off Linux (0).
func peakRSS() int64 { return 0 }
