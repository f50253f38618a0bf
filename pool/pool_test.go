package pool

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// newServer starts an ftptest server holding /a.txt (5 bytes).
func newServer(t *testing.T, opts ...ftptest.Option) *ftptest.Server {
	t.Helper()
	srv := ftptest.NewServer(t, opts...)
	srv.PutFile("/a.txt", []byte("hello"), time.Now())
	return srv
}

// newPool returns a pool on srv, closed at cleanup (before srv, which was
// registered first). Timeouts are short so that a hang fails the test
// rather than stalling it; mod adjusts the Config.
func newPool(t *testing.T, addr string, mod func(*Config)) *Pool {
	t.Helper()
	cfg := Config{
		Name: "test",
		Conn: ftpcore.Config{
			Addr:           addr,
			User:           "user",
			Password:       "pass",
			DialTimeout:    2 * time.Second,
			CommandTimeout: 2 * time.Second,
		},
		AcquireTimeout:     5 * time.Second,
		HealthCheckTimeout: time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func size(ctx context.Context, c *ftpcore.Conn) error {
	_, err := c.Size(ctx, "/a.txt")
	return err
}

// count returns how many of srv's command lines are exactly cmd.
func count(srv *ftptest.Server, cmd string) int {
	n := 0
	for _, l := range srv.Commands() {
		if l == cmd {
			n++
		}
	}
	return n
}

// waitFor polls cond every 5 ms for up to 2 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hang is a handler that never replies; Server.Close ends it.
func hang(c *ftptest.Conn, _ string) { <-c.Done() }

func TestReuse(t *testing.T) {
	srv := newServer(t)
	p := newPool(t, srv.Addr, nil)
	ctx := t.Context()
	for i := range 2 {
		if err := p.Do(ctx, func(c *ftpcore.Conn) error { return size(ctx, c) }); err != nil {
			t.Fatalf("Do #%d: %v", i, err)
		}
	}
	if n := srv.Logins(); n != 1 {
		t.Errorf("Logins = %d, want 1", n)
	}
	st := p.Stat()
	if st.Dials != 1 || st.IdleSessions() != 1 || st.AcquiredSessions() != 0 {
		t.Errorf("Dials=%d Idle=%d Acquired=%d, want 1 1 0", st.Dials, st.IdleSessions(), st.AcquiredSessions())
	}
}

func TestAcquireBounds(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration // AcquireTimeout
		ctx     func(context.Context) (context.Context, context.CancelFunc)
		want    error
	}{
		{
			name:    "exhausted",
			timeout: 100 * time.Millisecond,
			ctx:     context.WithCancel,
			want:    ErrExhausted,
		},
		{
			name:    "caller cancels",
			timeout: 5 * time.Second,
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(ctx)
				time.AfterFunc(50*time.Millisecond, cancel)
				return ctx, cancel
			},
			want: context.Canceled,
		},
		{
			name:    "caller deadline",
			timeout: 5 * time.Second,
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, 50*time.Millisecond)
			},
			want: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			p := newPool(t, srv.Addr, func(c *Config) {
				c.MaxSessions = 2
				c.AcquireTimeout = tt.timeout
			})
			for range 2 {
				s, err := p.Acquire(t.Context())
				if err != nil {
					t.Fatalf("Acquire: %v", err)
				}
				defer s.Release()
			}
			ctx, cancel := tt.ctx(t.Context())
			defer cancel()
			start := time.Now()
			s, err := p.Acquire(ctx)
			if err == nil {
				s.Release()
				t.Fatal("third Acquire succeeded")
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Acquire error = %v, want %v", err, tt.want)
			}
			if tt.want != ErrExhausted && errors.Is(err, ErrExhausted) {
				t.Errorf("Acquire error = %v, want the context's error, not ErrExhausted", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Acquire took %v", d)
			}
			if n := srv.Logins(); n != 2 {
				t.Errorf("Logins = %d, want 2", n)
			}
		})
	}
}

// TestReleaseDestroysUnusable checks that a session whose state is unknown
// after a failed call is not pooled, while a clean negative reply is.
func TestReleaseDestroysUnusable(t *testing.T) {
	tests := []struct {
		name       string
		handler    ftptest.Handler // for SIZE during the failing call; nil: default
		cancelCall bool            // the handler cancels the call's context
		path       string
		wantLogins int
		wantBroken int64
	}{
		{name: "command timeout", handler: hang, path: "/a.txt", wantLogins: 2, wantBroken: 1},
		{name: "context cancelled mid-call", handler: hang, cancelCall: true, path: "/a.txt", wantLogins: 2, wantBroken: 1},
		{name: "550 keeps session", path: "/missing", wantLogins: 1, wantBroken: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			p := newPool(t, srv.Addr, func(c *Config) { c.Conn.CommandTimeout = 100 * time.Millisecond })
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.handler != nil {
				h := tt.handler
				if tt.cancelCall {
					h = func(c *ftptest.Conn, arg string) {
						cancel()
						tt.handler(c, arg)
					}
				}
				srv.Handle("SIZE", h)
			}
			err := p.Do(ctx, func(c *ftpcore.Conn) error {
				_, err := c.Size(ctx, tt.path)
				return err
			})
			if err == nil {
				t.Fatal("Do succeeded, want an error")
			}
			if tt.cancelCall && !errors.Is(err, context.Canceled) {
				t.Errorf("Do error = %v, want context.Canceled", err)
			}
			srv.Handle("SIZE", nil)
			if err := p.Do(t.Context(), func(c *ftpcore.Conn) error { return size(t.Context(), c) }); err != nil {
				t.Fatalf("second Do: %v", err)
			}
			if n := srv.Logins(); n != tt.wantLogins {
				t.Errorf("Logins = %d, want %d", n, tt.wantLogins)
			}
			st := p.Stat()
			if st.DestroyedBroken != tt.wantBroken {
				t.Errorf("DestroyedBroken = %d, want %d", st.DestroyedBroken, tt.wantBroken)
			}
			if st.StaleRetries != 0 {
				t.Errorf("StaleRetries = %d, want 0", st.StaleRetries)
			}
		})
	}
}

// TestConnLostLaterIsNotPooled checks that a session that met 421 on a
// command other than its first is not retried, and not pooled either: the
// server is closing it, even though ftpcore still calls the Conn usable.
func TestConnLostLaterIsNotPooled(t *testing.T) {
	srv := newServer(t)
	p := newPool(t, srv.Addr, nil)
	ctx := t.Context()
	var sizes atomic.Int32
	srv.Handle("SIZE", func(c *ftptest.Conn, arg string) {
		if sizes.Add(1) == 2 {
			c.Reply(421, "Shutting down.")
			c.Close()
			return
		}
		c.Default("SIZE", arg)
	})
	var runs int
	err := p.Do(ctx, func(c *ftpcore.Conn) error {
		runs++
		if err := size(ctx, c); err != nil {
			return err
		}
		return size(ctx, c)
	})
	if code := ftpcore.ReplyCode(err); code != 421 {
		t.Fatalf("Do error = %v, want a 421", err)
	}
	if runs != 1 {
		t.Errorf("fn ran %d times, want 1", runs)
	}
	if err := p.Do(ctx, func(c *ftpcore.Conn) error { return size(ctx, c) }); err != nil {
		t.Fatalf("second Do: %v", err)
	}
	st := p.Stat()
	if st.StaleRetries != 0 || st.DestroyedBroken != 1 {
		t.Errorf("StaleRetries=%d DestroyedBroken=%d, want 0 1", st.StaleRetries, st.DestroyedBroken)
	}
	if n := srv.Logins(); n != 2 {
		t.Errorf("Logins = %d, want 2", n)
	}
}

func TestStaleRetry(t *testing.T) {
	dropClose := func(c *ftptest.Conn) { c.Close() }
	drop421 := func(c *ftptest.Conn) {
		c.Reply(421, "Timeout.")
		c.Close()
	}
	tests := []struct {
		name       string
		drop       func(*ftptest.Conn)
		dropOn     func(n int32) bool // which SIZE calls (from 1) drop the session
		twoCmds    bool               // fn sends SIZE twice
		wantErr    bool
		wantRuns   int
		wantLogins int
		wantRetry  int64
	}{
		{name: "closed on first command", drop: dropClose, dropOn: is(1), wantRuns: 2, wantLogins: 2, wantRetry: 1},
		{name: "421 on first command", drop: drop421, dropOn: is(1), wantRuns: 2, wantLogins: 2, wantRetry: 1},
		{name: "second command not retried", drop: dropClose, dropOn: is(2), twoCmds: true, wantErr: true, wantRuns: 1, wantLogins: 1},
		{name: "stale twice", drop: dropClose, dropOn: func(n int32) bool { return n <= 2 }, wantErr: true, wantRuns: 2, wantLogins: 2, wantRetry: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			p := newPool(t, srv.Addr, nil)
			ctx := t.Context()
			// Put one session idle in the pool.
			if err := p.Do(ctx, func(c *ftpcore.Conn) error { return c.Noop(ctx) }); err != nil {
				t.Fatalf("warm-up Do: %v", err)
			}
			var sizes atomic.Int32
			srv.Handle("SIZE", func(c *ftptest.Conn, arg string) {
				if tt.dropOn(sizes.Add(1)) {
					tt.drop(c)
					return
				}
				c.Default("SIZE", arg)
			})
			runs := 0
			err := p.Do(ctx, func(c *ftpcore.Conn) error {
				runs++
				if err := size(ctx, c); err != nil {
					return err
				}
				if tt.twoCmds {
					return size(ctx, c)
				}
				return nil
			})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Do error = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && !ftpcore.IsConnLost(err) {
				t.Errorf("Do error = %v, want a lost connection", err)
			}
			if runs != tt.wantRuns {
				t.Errorf("fn ran %d times, want %d", runs, tt.wantRuns)
			}
			if n := srv.Logins(); n != tt.wantLogins {
				t.Errorf("Logins = %d, want %d", n, tt.wantLogins)
			}
			if n := p.Stat().StaleRetries; n != tt.wantRetry {
				t.Errorf("StaleRetries = %d, want %d", n, tt.wantRetry)
			}
		})
	}
}

func is(k int32) func(int32) bool { return func(n int32) bool { return n == k } }

func TestHealthCheck(t *testing.T) {
	tests := []struct {
		name         string
		gap          time.Duration
		noop         ftptest.Handler // replaces NOOP after the first call
		wantNoop     bool
		wantLogins   int
		wantFailures int64
	}{
		{name: "within idle gap", gap: 0, wantLogins: 1},
		{name: "after idle gap", gap: 100 * time.Millisecond, wantNoop: true, wantLogins: 1},
		{name: "NOOP closes", gap: 100 * time.Millisecond, noop: func(c *ftptest.Conn, _ string) { c.Close() }, wantNoop: true, wantLogins: 2, wantFailures: 1},
		{name: "NOOP 421", gap: 100 * time.Millisecond, noop: func(c *ftptest.Conn, _ string) { c.Reply(421, "Timeout.") }, wantNoop: true, wantLogins: 2, wantFailures: 1},
		{name: "NOOP silent", gap: 100 * time.Millisecond, noop: hang, wantNoop: true, wantLogins: 2, wantFailures: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			p := newPool(t, srv.Addr, func(c *Config) {
				c.HealthCheckAfterIdle = 50 * time.Millisecond
				c.HealthCheckTimeout = 100 * time.Millisecond
			})
			ctx := t.Context()
			if err := p.Do(ctx, func(c *ftpcore.Conn) error { return size(ctx, c) }); err != nil {
				t.Fatalf("first Do: %v", err)
			}
			if tt.noop != nil {
				srv.Handle("NOOP", tt.noop)
			}
			time.Sleep(tt.gap)
			before := len(srv.Commands())
			s, err := p.Acquire(ctx)
			if err != nil {
				t.Fatalf("Acquire: %v", err)
			}
			err = size(ctx, s.Conn())
			s.Release()
			if err != nil {
				t.Fatalf("Size on acquired session: %v", err)
			}
			after := srv.Commands()[before:]
			if got := slices.Contains(after, "NOOP"); got != tt.wantNoop {
				t.Errorf("commands after the gap %q: NOOP sent = %v, want %v", after, got, tt.wantNoop)
			}
			if tt.wantNoop && tt.noop == nil && !slices.Equal(after, []string{"NOOP", "SIZE /a.txt"}) {
				t.Errorf("commands after the gap = %q, want NOOP then SIZE", after)
			}
			if n := srv.Logins(); n != tt.wantLogins {
				t.Errorf("Logins = %d, want %d", n, tt.wantLogins)
			}
			if n := p.Stat().HealthCheckFailures; n != tt.wantFailures {
				t.Errorf("HealthCheckFailures = %d, want %d", n, tt.wantFailures)
			}
		})
	}
}

func TestMaxLifetime(t *testing.T) {
	tests := []struct {
		name        string
		holdExpired bool // the lifetime ends while the session is acquired
	}{
		{name: "expires while acquired", holdExpired: true},
		{name: "expires while idle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			p := newPool(t, srv.Addr, func(c *Config) {
				c.MaxLifetime = 50 * time.Millisecond
				c.MaxLifetimeJitter = time.Millisecond
			})
			ctx := t.Context()
			s, err := p.Acquire(ctx)
			if err != nil {
				t.Fatalf("Acquire: %v", err)
			}
			if tt.holdExpired {
				time.Sleep(80 * time.Millisecond)
				s.Release()
				if n := p.Stat().DestroyedLifetime; n != 1 {
					t.Errorf("DestroyedLifetime after Release = %d, want 1", n)
				}
			} else {
				s.Release()
				time.Sleep(80 * time.Millisecond)
			}
			if err := p.Do(ctx, func(c *ftpcore.Conn) error { return size(ctx, c) }); err != nil {
				t.Fatalf("Do: %v", err)
			}
			if n := srv.Logins(); n != 2 {
				t.Errorf("Logins = %d, want 2", n)
			}
			if n := p.Stat().DestroyedLifetime; n != 1 {
				t.Errorf("DestroyedLifetime = %d, want 1", n)
			}
			// The retired session is told goodbye.
			waitFor(t, "QUIT", func() bool { return count(srv, "QUIT") == 1 })
		})
	}
}

func TestIdleReaping(t *testing.T) {
	srv := newServer(t)
	p := newPool(t, srv.Addr, func(c *Config) {
		c.HealthCheckPeriod = 30 * time.Millisecond
		c.MaxIdleTime = 30 * time.Millisecond
	})
	ctx := t.Context()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			s, err := p.Acquire(ctx)
			if err != nil {
				t.Errorf("Acquire: %v", err)
				return
			}
			time.Sleep(10 * time.Millisecond) // so that three sessions are opened
			s.Release()
		})
	}
	wg.Wait()
	if n := srv.Logins(); n != 3 {
		t.Fatalf("Logins = %d, want 3", n)
	}
	waitFor(t, "idle sessions to be reaped", func() bool {
		st := p.Stat()
		return st.TotalSessions() == 0 && count(srv, "QUIT") == 3
	})
	if n := p.Stat().DestroyedIdle; n != 3 {
		t.Errorf("DestroyedIdle = %d, want 3", n)
	}
}

// TestAcquireTimeoutWhileDialling checks that a dial slower than
// AcquireTimeout is reported as a connection failure, not as an exhausted
// pool, and that the dial still completes into the pool.
func TestAcquireTimeoutWhileDialling(t *testing.T) {
	srv := newServer(t, ftptest.WithReplyDelay(50*time.Millisecond))
	p := newPool(t, srv.Addr, func(c *Config) { c.AcquireTimeout = 30 * time.Millisecond })
	s, err := p.Acquire(t.Context())
	if err == nil {
		s.Release()
		t.Fatal("Acquire succeeded")
	}
	var ce *ConnectError
	if !errors.As(err, &ce) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire error = %v, want a *ConnectError wrapping context.DeadlineExceeded", err)
	}
	if errors.Is(err, ErrExhausted) {
		t.Errorf("Acquire error = %v, want no ErrExhausted", err)
	}
	waitFor(t, "the dial to finish into the pool", func() bool { return p.Stat().IdleSessions() == 1 })
	if n := srv.Logins(); n != 1 {
		t.Errorf("Logins = %d, want 1", n)
	}
}

func TestDialFailure(t *testing.T) {
	closedAddr := func(t *testing.T) string {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	tests := []struct {
		name     string
		addr     func(t *testing.T) string
		password string
		wantCode int
	}{
		// A 421 greeting, or 530, is retried until AcquireTimeout:
		// TestBudgetServerTakesNone.
		{
			name:     "wrong password",
			addr:     func(t *testing.T) string { return newServer(t).Addr },
			password: "wrong",
			wantCode: 530,
		},
		{name: "connection refused", addr: closedAddr, password: "pass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t, tt.addr(t), func(c *Config) { c.Conn.Password = tt.password })
			s, err := p.Acquire(t.Context())
			if err == nil {
				s.Release()
				t.Fatal("Acquire succeeded")
			}
			var ce *ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("Acquire error = %T %v, want *ConnectError", err, err)
			}
			if ce.Backend != "test" {
				t.Errorf("ConnectError.Backend = %q, want test", ce.Backend)
			}
			if code := ftpcore.ReplyCode(err); code != tt.wantCode {
				t.Errorf("ReplyCode = %d, want %d (err %v)", code, tt.wantCode, err)
			}
			if tt.wantCode != 0 {
				var fe *ftpcore.Error
				if !errors.As(err, &fe) {
					t.Errorf("error %v does not wrap *ftpcore.Error", err)
				}
			}
			st := p.Stat()
			if st.Dials != 1 || st.DialErrors != 1 {
				t.Errorf("Dials=%d DialErrors=%d, want 1 1", st.Dials, st.DialErrors)
			}
			if n := st.TotalSessions(); n != 0 {
				t.Errorf("TotalSessions = %d, want 0", n)
			}
		})
	}
}

func TestClose(t *testing.T) {
	srv := newServer(t)
	p := newPool(t, srv.Addr, nil)
	ctx := t.Context()
	idle, err := p.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	held, err := p.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	idle.Release()

	var released atomic.Bool
	go func() {
		time.Sleep(50 * time.Millisecond)
		released.Store(true)
		held.Release()
	}()
	p.Close()
	if !released.Load() {
		t.Error("Close returned before the acquired session was released")
	}
	if n := count(srv, "QUIT"); n != 2 {
		t.Errorf("server saw %d QUIT, want 2", n)
	}
	if n := p.Stat().TotalSessions(); n != 0 {
		t.Errorf("TotalSessions after Close = %d, want 0", n)
	}
	s, err := p.Acquire(ctx)
	if !errors.Is(err, ErrClosed) {
		if s != nil {
			s.Release()
		}
		t.Errorf("Acquire after Close: %v, want ErrClosed", err)
	}
	if err := p.Do(ctx, func(*ftpcore.Conn) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v, want ErrClosed", err)
	}
	p.Close() // idempotent
}

func TestConcurrentDo(t *testing.T) {
	srv := newServer(t)
	p := newPool(t, srv.Addr, func(c *Config) { c.MaxSessions = 4 })
	ctx := t.Context()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				err := p.Do(ctx, func(c *ftpcore.Conn) error {
					n, err := c.Size(ctx, "/a.txt")
					if err == nil && n != 5 {
						t.Errorf("Size = %d, want 5", n)
					}
					return err
				})
				if err != nil {
					t.Errorf("Do: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := srv.Logins(); n > 4 {
		t.Errorf("Logins = %d, want at most 4", n)
	}
	st := p.Stat()
	if st.AcquiredSessions() != 0 || st.TotalSessions() > 4 {
		t.Errorf("Acquired=%d Total=%d, want 0 and at most 4", st.AcquiredSessions(), st.TotalSessions())
	}
	if n := count(srv, "SIZE /a.txt"); n != 16*50 {
		t.Errorf("server saw %d SIZE, want %d", n, 16*50)
	}
}

// TestBusySessionNotReused checks that a session released with a download
// still open, which ftpcore refuses every command on, does not stay in the
// pool failing each caller that gets it.
func TestBusySessionNotReused(t *testing.T) {
	srv := newServer(t)
	p := newPool(t, srv.Addr, nil)
	ctx := t.Context()
	s, err := p.Begin(ctx, func(c *ftpcore.Conn) error {
		_, err := c.Retr(ctx, "/a.txt", 0, -1)
		return err
	})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	s.Release() // the Transfer is never closed: a caller's bug
	for i := range 3 {
		if err := p.Do(ctx, func(c *ftpcore.Conn) error { return size(ctx, c) }); err != nil {
			t.Fatalf("Do #%d: %v", i, err)
		}
	}
	if n := srv.Logins(); n != 2 {
		t.Errorf("Logins = %d, want 2", n)
	}
	if n := p.Stat().DestroyedBroken; n != 1 {
		t.Errorf("DestroyedBroken = %d, want 1", n)
	}
	// Release itself saw the open transfer; no caller had to trip over it.
	if n := p.Stat().StaleRetries; n != 0 {
		t.Errorf("StaleRetries = %d, want 0", n)
	}
}

func TestTLSSessionCachePerBackend(t *testing.T) {
	mine := &tls.Config{ServerName: "example.test"}
	p, err := New(Config{Conn: ftpcore.Config{Addr: "127.0.0.1:1", TLS: ftpcore.TLSExplicit, TLSConfig: mine}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	got := p.cfg.Conn.TLSConfig
	if got == mine || mine.ClientSessionCache != nil {
		t.Error("the caller's tls.Config was modified instead of cloned")
	}
	if got.ClientSessionCache == nil || got.ServerName != "example.test" {
		t.Errorf("pool TLS config: cache %v, ServerName %q", got.ClientSessionCache, got.ServerName)
	}
	plain, err := New(Config{Conn: ftpcore.Config{Addr: "127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if plain.cfg.Conn.TLSConfig != nil {
		t.Error("a plain backend got a TLS config")
	}
}

func TestMinSessions(t *testing.T) {
	srv := newServer(t)
	p := newPool(t, srv.Addr, func(c *Config) {
		c.MaxSessions = 4
		c.MinSessions = 2
		c.HealthCheckPeriod = 20 * time.Millisecond
		c.MaxIdleTime = 20 * time.Millisecond
	})
	// Dialled without any Acquire.
	waitFor(t, "two sessions at start", func() bool { return srv.Logins() == 2 && p.Stat().IdleSessions() == 2 })

	// Idle reaping stops at the minimum: four sessions in use, then idle.
	ctx := t.Context()
	var held []*Session
	for range 4 {
		s, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, s)
	}
	for _, s := range held {
		s.Release()
	}
	waitFor(t, "reaping down to the minimum", func() bool { return p.Stat().TotalSessions() == 2 })
	time.Sleep(100 * time.Millisecond) // several more reaping rounds
	if n := p.Stat().TotalSessions(); n != 2 {
		t.Fatalf("TotalSessions = %d after idle reaping, want the minimum 2", n)
	}

	// A destroyed session is replaced without waiting for a request.
	s, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := srv.Logins()
	s.Destroy()
	waitFor(t, "the minimum restored", func() bool { return srv.Logins() == before+1 && p.Stat().TotalSessions() == 2 })
}

// TestHealthCheckFailureDestroys checks that a session failing its NOOP on
// acquire goes the way of every destroyed session: counted under its
// reason, and replaced at once to keep MinSessions. HealthCheckPeriod
// stays at its default minute, so only the destroy can start that dial.
func TestHealthCheckFailureDestroys(t *testing.T) {
	srv := newServer(t)
	p := newPool(t, srv.Addr, func(c *Config) {
		c.MinSessions = 2
		c.HealthCheckAfterIdle = 50 * time.Millisecond
		c.HealthCheckTimeout = 100 * time.Millisecond
	})
	waitFor(t, "two sessions at start", func() bool { return srv.Logins() == 2 && p.Stat().IdleSessions() == 2 })
	var noops atomic.Int32
	srv.Handle("NOOP", func(c *ftptest.Conn, arg string) {
		if noops.Add(1) == 1 {
			c.Close()
			return
		}
		c.Default("NOOP", arg)
	})
	time.Sleep(100 * time.Millisecond)

	s, err := p.Acquire(t.Context())
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	defer s.Release()
	// The other idle session passed its NOOP and is held; the one that
	// failed is replaced without any request asking for it.
	waitFor(t, "the minimum restored", func() bool { return srv.Logins() == 3 && p.Stat().TotalSessions() == 2 })

	const want = `
# HELP ftpgw_pool_destroyed_sessions_total Sessions destroyed, by reason.
# TYPE ftpgw_pool_destroyed_sessions_total counter
ftpgw_pool_destroyed_sessions_total{backend="test",reason="broken"} 0
ftpgw_pool_destroyed_sessions_total{backend="test",reason="health_check"} 1
ftpgw_pool_destroyed_sessions_total{backend="test",reason="idle"} 0
ftpgw_pool_destroyed_sessions_total{backend="test",reason="lifetime"} 0
# HELP ftpgw_pool_health_check_failures_total Sessions that failed the NOOP health check on acquire.
# TYPE ftpgw_pool_health_check_failures_total counter
ftpgw_pool_health_check_failures_total{backend="test"} 1
`
	if err := testutil.CollectAndCompare(NewCollector(p), strings.NewReader(want),
		"ftpgw_pool_destroyed_sessions_total", "ftpgw_pool_health_check_failures_total"); err != nil {
		t.Errorf("exposition:\n%v", err)
	}
}

func TestMinSessionsBackendDown(t *testing.T) {
	srv := newServer(t)
	addr := srv.Addr
	srv.Close()
	p := newPool(t, addr, func(c *Config) {
		c.MinSessions = 2
		c.HealthCheckPeriod = 20 * time.Millisecond
	})
	time.Sleep(100 * time.Millisecond)
	if st := p.Stat(); st.IdleSessions()+st.AcquiredSessions() != 0 || st.DialErrors == 0 {
		t.Errorf("backend down: %d sessions, %d dial errors", st.IdleSessions()+st.AcquiredSessions(), st.DialErrors)
	}
	// Close does not wait on the background dials.
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Close hung")
	}
}

// TestDestroyStaysCountedUntilClosed: a destroyed session counts against
// MaxSessions until its QUIT is answered, so the server never sees more
// connections than MaxSessions; once it is closed, the waiting Acquire gets
// a new session at once.
func TestDestroyStaysCountedUntilClosed(t *testing.T) {
	srv := newServer(t)
	var quitDone atomic.Bool
	srv.Handle("QUIT", func(c *ftptest.Conn, _ string) {
		time.Sleep(300 * time.Millisecond)
		quitDone.Store(true)
		c.Reply(221, "Goodbye.")
		c.Close()
	})
	p := newPool(t, srv.Addr, func(c *Config) { c.MaxSessions = 1 })
	s, err := p.Acquire(t.Context())
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	s.Destroy()
	start := time.Now()
	s2, err := p.Acquire(t.Context())
	if err != nil {
		t.Fatalf("second Acquire: %v", err)
	}
	defer s2.Release()
	if !quitDone.Load() {
		t.Fatalf("a new session was handed out %v after the destroy, before the old one's QUIT was answered", time.Since(start))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the new session took %v after a 300 ms QUIT", d)
	}
	if got := srv.Logins(); got != 2 {
		t.Errorf("logins = %d, want 2", got)
	}
}

// logins records srv's control connections as they log in, in order, so
// that a test can end them server-side as a restarting server does.
type logins struct {
	mu    sync.Mutex
	conns []*ftptest.Conn
}

func recordLogins(srv *ftptest.Server) *logins {
	l := &logins{}
	srv.Handle("PASS", func(c *ftptest.Conn, arg string) {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
		c.Default("PASS", arg)
	})
	return l
}

// drop closes the control connections of the given logins (from 0), or of
// all of them.
func (l *logins) drop(which ...int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if which == nil {
		for i := range l.conns {
			which = append(which, i)
		}
	}
	for _, i := range which {
		l.conns[i].Close()
	}
}

// idlePool returns a pool of n sessions on srv, opened one after another so
// that their order is known, and idle. No session is checked for its idle
// time, so that only what a test does to the server can make one be.
// puddle hands out the idle session returned last first, so newestFirst
// decides which end of the order the next Acquire takes.
func idlePool(t *testing.T, srv *ftptest.Server, n int, newestFirst bool) *Pool {
	t.Helper()
	p := newPool(t, srv.Addr, func(c *Config) {
		c.MaxSessions = int32(n)
		c.HealthCheckAfterIdle = time.Minute
	})
	held := make([]*Session, n)
	for i := range held {
		s, err := p.Acquire(t.Context())
		if err != nil {
			t.Fatalf("Acquire: %v", err)
		}
		held[i] = s
	}
	if !newestFirst {
		slices.Reverse(held)
	}
	for _, s := range held {
		s.Release()
	}
	return p
}

// TestRestartedServer: the server ends every control connection at once,
// as a restart does, and is up again when the requests come. None of them
// fails, however the dead sessions lie in the pool: the first one found
// stale makes those opened before it suspect, each proved with NOOP before
// use (the newest handed out first), and the operation is retried for as
// long as it meets a dead session (the oldest first, none suspect of
// another's death). One session is dialled to replace the four, and it is
// never checked.
func TestRestartedServer(t *testing.T) {
	tests := []struct {
		name        string
		newestFirst bool
		wantRetries int64 // StaleRetries
		wantChecks  int64 // HealthCheckFailures
	}{
		{name: "newest handed out first", newestFirst: true, wantRetries: 1, wantChecks: 3},
		{name: "oldest handed out first", wantRetries: 4, wantChecks: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			conns := recordLogins(srv)
			p := idlePool(t, srv, 4, tt.newestFirst)
			conns.drop()
			ctx := t.Context()
			for i := range 8 {
				if err := p.Do(ctx, func(c *ftpcore.Conn) error { return size(ctx, c) }); err != nil {
					t.Fatalf("request #%d after the restart: %v", i, err)
				}
			}
			st := p.Stat()
			if st.Dials != 5 || st.DialErrors != 0 || srv.Logins() != 5 {
				t.Errorf("Dials=%d DialErrors=%d Logins=%d, want 5 0 5", st.Dials, st.DialErrors, srv.Logins())
			}
			if st.StaleRetries != tt.wantRetries || st.HealthCheckFailures != tt.wantChecks {
				t.Errorf("StaleRetries=%d HealthCheckFailures=%d, want %d %d",
					st.StaleRetries, st.HealthCheckFailures, tt.wantRetries, tt.wantChecks)
			}
			if n := count(srv, "NOOP"); n != 0 {
				t.Errorf("server saw %d NOOP, want 0: the new session is not suspect", n)
			}
		})
	}
}

// TestSuspectCheckedOnce: one session dies (a server's idle timeout, say)
// and makes the older one suspect, which is alive: it is proved with one
// NOOP, and not again at the next use.
func TestSuspectCheckedOnce(t *testing.T) {
	srv := newServer(t)
	conns := recordLogins(srv)
	p := idlePool(t, srv, 2, true)
	conns.drop(1)
	ctx := t.Context()
	for i := range 3 {
		if err := p.Do(ctx, func(c *ftpcore.Conn) error { return size(ctx, c) }); err != nil {
			t.Fatalf("Do #%d: %v", i, err)
		}
	}
	if n := count(srv, "NOOP"); n != 1 {
		t.Errorf("server saw %d NOOP, want 1", n)
	}
	st := p.Stat()
	if st.StaleRetries != 1 || st.HealthCheckFailures != 0 || st.Dials != 2 {
		t.Errorf("StaleRetries=%d HealthCheckFailures=%d Dials=%d, want 1 0 2", st.StaleRetries, st.HealthCheckFailures, st.Dials)
	}
}

// TestServerStillDown: with the server gone, a request fails fast with the
// refused dial, once the dead sessions have each been found dead once, and
// the next request costs one dial: the retries end with the sessions that
// were open when the request began, and no session is dialled twice.
func TestServerStillDown(t *testing.T) {
	srv := newServer(t)
	p := idlePool(t, srv, 4, true)
	srv.Close()
	ctx := t.Context()
	for i, wantDials := range []int64{5, 6} {
		start := time.Now()
		runs := 0
		err := p.Do(ctx, func(c *ftpcore.Conn) error {
			runs++
			return size(ctx, c)
		})
		var ce *ConnectError
		if !errors.As(err, &ce) {
			t.Fatalf("request #%d: %v, want a *ConnectError", i, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("request #%d failed after %v", i, d)
		}
		if st := p.Stat(); st.Dials != wantDials || st.DialErrors != wantDials-4 {
			t.Errorf("request #%d: Dials=%d DialErrors=%d, want %d %d", i, st.Dials, st.DialErrors, wantDials, wantDials-4)
		}
		if wantRuns := 1 - i; runs != wantRuns {
			t.Errorf("request #%d: fn ran %d times, want %d", i, runs, wantRuns)
		}
	}
	if st := p.Stat(); st.StaleRetries != 1 || st.HealthCheckFailures != 3 {
		t.Errorf("StaleRetries=%d HealthCheckFailures=%d, want 1 3", st.StaleRetries, st.HealthCheckFailures)
	}
}

// TestStaleRetriesBounded: a server that closes every session on its first
// command, old or new, costs a request one run of fn on each session open
// when it began and one on a fresh session, then the error: a session
// opened during the request that fails has met a server failing now.
func TestStaleRetriesBounded(t *testing.T) {
	srv := newServer(t)
	p := idlePool(t, srv, 4, false)
	srv.Handle("SIZE", func(c *ftptest.Conn, _ string) { c.Close() })
	ctx := t.Context()
	runs := 0
	err := p.Do(ctx, func(c *ftpcore.Conn) error {
		runs++
		return size(ctx, c)
	})
	if !ftpcore.IsConnLost(err) {
		t.Fatalf("Do error = %v, want a lost connection", err)
	}
	if runs != 5 || srv.Logins() != 5 {
		t.Errorf("fn ran %d times on %d sessions, want 5 on 5", runs, srv.Logins())
	}
	if n := p.Stat().StaleRetries; n != 4 {
		t.Errorf("StaleRetries = %d, want 4", n)
	}
}
