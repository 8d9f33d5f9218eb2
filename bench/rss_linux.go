package bench

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// peakRSS is the process's peak resident set size in bytes.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024 // Linux reports KiB
}

// selfUsage is this process's resident set size (VmRSS of
// /proc/self/status) and the CPU time it used so far, user + system, as
// getrusage reports it: the utime + stime of /proc/self/stat, in
// microseconds rather than clock ticks. ok is false when either is unreadable.
func selfUsage() (rss int64, cpu time.Duration, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, false
	}
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, cpu, false
	}
	rss, ok = vmRSS(status)
	return rss, cpu, ok
}

// vmRSS parses the "VmRSS:  1234 kB" line of /proc/<pid>/status.
func vmRSS(status []byte) (int64, bool) {
	_, rest, found := bytes.Cut(status, []byte("VmRSS:"))
	if !found {
		return 0, false
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) != 2 || string(f[1]) != "kB" {
		return 0, false
	}
	kb, err := strconv.ParseInt(string(f[0]), 10, 64)
	return kb * 1024, err == nil
}
