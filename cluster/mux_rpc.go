package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

const (
	// MaxRPCSize is the largest RPC request or response body, in bytes.
	MaxRPCSize = 8 << 20

	muxRPCOK  byte = 0
	muxRPCErr byte = 1

	muxMaxIdle         = 4                // pooled RPC conns per address
	muxRPCWriteTimeout = 10 * time.Second // a response the caller does not read in time drops the conn
)

// RemoteError is the error a peer's RPC handler returned. Error() is the
// handler's message unchanged, so callers may match it against a sentinel's text.
type RemoteError struct {
	Addr    string // the peer called
	Message string // the handler's error message
}

func (e *RemoteError) Error() string { return e.Message }

// RPCHandler serves one RPC request from the node peer (the ID its TLS
// certificate proves, or in plaintext the ID it claims). It is called on the
// connection's goroutine: one request at a time per connection, concurrently
// across connections. ctx is cancelled when the Mux closes, and Close waits
// for the handler to return. req is the handler's to keep; a non-nil error
// reaches the caller as a *RemoteError with its message.
type RPCHandler func(ctx context.Context, peer string, req []byte) ([]byte, error)

// Handle sets the RPC handler (replacing any previous one). Requests that
// arrive while none is set fail with a RemoteError.
func (m *Mux) Handle(h RPCHandler) { m.handler.Store(&h) }

// Call sends req to the node at addr and returns its handler's response. A
// handler error comes back as a *RemoteError; anything else is a transport
// error (wrapping ctx.Err() when ctx ended the call). Connections are pooled
// per address. A call that fails on a pooled connection before any byte of
// the response arrived is retried once on a new connection, so a handler may
// see a request twice if its node dies mid-call: handlers must be idempotent.
// Without a ctx deadline only the dial is bounded (DialTimeout).
func (m *Mux) Call(ctx context.Context, addr string, req []byte) ([]byte, error) {
	if len(req) > MaxRPCSize {
		return nil, fmt.Errorf("cluster: call %s: %w (%d bytes)", addr, ErrRPCTooLarge, len(req))
	}
	for attempt := 0; ; attempt++ {
		t, c, pooled, err := m.rpcConn(ctx, addr)
		if err != nil {
			return nil, fmt.Errorf("cluster: call %s: %w", addr, callErr(ctx, err))
		}
		resp, replied, err := muxRoundTrip(ctx, c, req)
		var re *RemoteError
		if err == nil || errors.As(err, &re) {
			m.putIdle(addr, t, c)
			if re != nil {
				re.Addr = addr
			}
			return resp, err
		}
		abortConns([]connVictim{{t, c}})
		err = callErr(ctx, err)
		var ne net.Error
		if pooled && !replied && attempt == 0 && ctx.Err() == nil && !(errors.As(err, &ne) && ne.Timeout()) {
			continue
		}
		return nil, fmt.Errorf("cluster: call %s: %w", addr, err)
	}
}

// callErr returns ctx's error instead of err once ctx is done or past its
// deadline (a connection deadline can fire just before the context's timer).
func callErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return err
}

// rpcConn takes a pooled connection to addr or dials one.
func (m *Mux) rpcConn(ctx context.Context, addr string) (*muxConn, net.Conn, bool, error) {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return nil, nil, false, ErrClosed
	}
	for idle := m.mu.idle[addr]; len(idle) > 0; idle = m.mu.idle[addr] {
		t := idle[len(idle)-1]
		m.mu.idle[addr] = idle[:len(idle)-1]
		if !t.dead.Load() {
			c := t.top
			m.mu.Unlock()
			return t, c, true, nil
		}
	}
	m.mu.Unlock()
	dctx, cancel := context.WithTimeout(ctx, m.cfg.DialTimeout)
	defer cancel()
	t, c, _, err := m.dial(dctx, addr, muxKindRPC, 0, nil)
	return t, c, false, err
}

// putIdle returns a healthy connection to the pool (or closes it).
func (m *Mux) putIdle(addr string, t *muxConn, c net.Conn) {
	m.mu.Lock()
	if !m.mu.closed && !t.dead.Load() && len(m.mu.idle[addr]) < muxMaxIdle {
		m.mu.idle[addr] = append(m.mu.idle[addr], t)
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	abortConns([]connVictim{{t, c}})
}

// muxRoundTrip sends one request and reads its response; replied tells whether
// any byte of the response arrived.
func muxRoundTrip(ctx context.Context, c net.Conn, req []byte) (resp []byte, replied bool, err error) {
	dl, _ := ctx.Deadline()
	if err := c.SetDeadline(dl); err != nil {
		return nil, false, err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 4+len(req))
	binary.BigEndian.PutUint32(buf, uint32(len(req)))
	copy(buf[4:], req)
	if _, err := c.Write(buf); err != nil {
		return nil, false, err
	}
	var hdr [5]byte
	if n, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, n > 0, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxRPCSize || hdr[0] > muxRPCErr {
		return nil, true, fmt.Errorf("%w: response header %x", ErrBadHandshake, hdr)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil {
		return nil, true, err
	}
	if !stop() {
		return nil, true, ctx.Err()
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return nil, true, err
	}
	if hdr[0] == muxRPCErr {
		return nil, true, &RemoteError{Message: string(body)}
	}
	return body, true, nil
}

// serveRPC answers requests on an incoming RPC connection until it fails.
func (m *Mux) serveRPC(c net.Conn, peer string) {
	defer func() { _ = c.Close() }()
	r := bufio.NewReader(c)
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > MaxRPCSize {
			m.log.Warn("rpc request too large", "peer", peer, "bytes", n)
			return
		}
		req := make([]byte, n)
		if _, err := io.ReadFull(r, req); err != nil {
			return
		}
		status := muxRPCOK
		resp, err := m.invoke(peer, req)
		if err == nil && len(resp) > MaxRPCSize {
			err = fmt.Errorf("%w: response of %d bytes", ErrRPCTooLarge, len(resp))
		}
		if err != nil {
			status, resp = muxRPCErr, []byte(err.Error())
			if len(resp) > MaxRPCSize {
				resp = resp[:MaxRPCSize]
			}
		}
		out := make([]byte, 5+len(resp))
		out[0] = status
		binary.BigEndian.PutUint32(out[1:], uint32(len(resp)))
		copy(out[5:], resp)
		if err := c.SetWriteDeadline(time.Now().Add(muxRPCWriteTimeout)); err != nil {
			return
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

func (m *Mux) invoke(peer string, req []byte) ([]byte, error) {
	h := m.handler.Load()
	if h == nil {
		return nil, errors.New("cluster: no rpc handler")
	}
	return (*h)(m.ctx, peer, req)
}
