package cluster

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind (STYLE 10).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
