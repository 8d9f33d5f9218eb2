package cluster

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// fakeMsg is a consumed message with only a payload.
type fakeMsg struct {
	jetstream.Msg
	data []byte
}

func (m fakeMsg) Data() []byte { return m.data }

func queued(n, size int) chan jetstream.Msg {
	ch := make(chan jetstream.Msg, n)
	for range n {
		ch <- fakeMsg{data: make([]byte, size)}
	}
	return ch
}

// A batch takes what is waiting, up to the message and byte limits, and
// leaves the rest for the next.
func TestGatherLimits(t *testing.T) {
	ctx := context.Background()
	msgs := queued(10, 100)
	raw, err := gather(ctx, msgs, nil, 4, 1<<20)
	if err != nil || len(raw) != 4 {
		t.Fatalf("max batch 4: %d messages, %v", len(raw), err)
	}
	raw, err = gather(ctx, msgs, raw[:0], 100, 250) // the third message reaches 300 bytes
	if err != nil || len(raw) != 3 {
		t.Fatalf("max bytes 250: %d messages, %v", len(raw), err)
	}
	raw, err = gather(ctx, msgs, raw[:0], 100, 1<<20)
	if err != nil || len(raw) != 3 {
		t.Fatalf("rest: %d messages, %v", len(raw), err)
	}
}

// Once the consumer's context is done, gather never returns a batch, even
// one whose messages all arrived: the callback may have dropped a message
// in front of them, and proposing the batch would move the cursor past an
// event never applied (the restart-mid-stream loss this guards against).
func TestGatherAfterCancelReturnsNothing(t *testing.T) {
	cause := errors.New("shard closing")
	for i := range 200 { // both select cases are ready: either may be taken
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(cause)
		raw, err := gather(ctx, queued(5, 10), nil, 100, 1<<20)
		if !errors.Is(err, cause) || len(raw) != 0 {
			t.Fatalf("round %d: %d messages, error %v; want none and the cause", i, len(raw), err)
		}
	}
}
