package actor

import "fmt"

// Config sizes a Host. Build it from DefaultConfig and override fields; Validate
// reports bad values and never fills in defaults.
type Config struct {
	// Capacity is the maximum number of resident (activated) actors. When an
	// activation would exceed it, the least recently used actor not touched by the
	// current call is passivated. Actors touched by one call (or between Hold and
	// Release) are never passivated by the LRU during it, so a call touching more
	// than Capacity distinct keys overshoots until it returns. Default 100_000.
	Capacity int
	// Workers is the number of goroutines Dispatch may use to run distinct keys in
	// parallel, the caller's included. 1 (the default) runs everything on the
	// caller's goroutine and starts none. Results never depend on it.
	Workers int
}

// DefaultConfig returns the default configuration: Capacity 100_000, Workers 1.
func DefaultConfig() Config {
	return Config{Capacity: 100_000, Workers: 1}
}

// Validate reports the first bad field, quoting its value. It never mutates c.
func (c Config) Validate() error {
	if c.Capacity < 1 {
		return fmt.Errorf("%w: Capacity must be at least 1, got %d", ErrConfig, c.Capacity)
	}
	if c.Workers < 1 {
		return fmt.Errorf("%w: Workers must be at least 1, got %d", ErrConfig, c.Workers)
	}
	if c.Workers > maxWorkers {
		return fmt.Errorf("%w: Workers must be at most %d, got %d", ErrConfig, maxWorkers, c.Workers)
	}
	return nil
}

// maxWorkers bounds Config.Workers; far beyond any useful parallelism.
const maxWorkers = 1024
