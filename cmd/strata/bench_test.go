package main

import (
	"testing"
	"time"
)

func TestParseRamp(t *testing.T) {
	for _, tc := range []struct {
		in          string
		start, step int
		stage       time.Duration
		ok          bool
	}{
		{"5000:5000:20s", 5000, 5000, 20 * time.Second, true},
		{"100:50:1m", 100, 50, time.Minute, true},
		{"5000:5000", 0, 0, 0, false},
		{"0:5000:20s", 0, 0, 0, false},
		{"5000:-1:20s", 0, 0, 0, false},
		{"5000:5000:soon", 0, 0, 0, false},
		{"5000:5000:0s", 0, 0, 0, false},
	} {
		start, step, stage, err := parseRamp(tc.in)
		if (err == nil) != tc.ok || start != tc.start || step != tc.step || stage != tc.stage {
			t.Errorf("parseRamp(%q) = %d, %d, %v, %v; want %d, %d, %v, ok %v", tc.in, start, step, stage, err, tc.start, tc.step, tc.stage, tc.ok)
		}
	}
}
