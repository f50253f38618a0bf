package pool

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// clock is a test's clock for the budget's quiet periods.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// acquireLater acquires a session in the background; the channel gets it.
func acquireLater(t *testing.T, p *Pool) <-chan *Session {
	t.Helper()
	ch := make(chan *Session, 1)
	go func() {
		s, err := p.Acquire(t.Context())
		if err != nil {
			t.Errorf("Acquire: %v", err)
		}
		ch <- s
	}()
	return ch
}

// got returns the session acquireLater delivers.
func got(t *testing.T, ch <-chan *Session) *Session {
	t.Helper()
	select {
	case s := <-ch:
		if s == nil {
			t.FailNow()
		}
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter got no session")
	}
	return nil
}

// TestBudget walks the effective maximum through a server that takes two
// sessions, then three: a refused dial lowers it to the sessions open, and
// its waiter gets the next session released instead of an error; each
// quiet period raises it by one; a login that succeeds above it, or a
// refusal of the probe, sets it where the server is.
func TestBudget(t *testing.T) {
	srv := newServer(t, ftptest.WithMaxConns(2))
	p := newPool(t, srv.Addr, func(c *Config) {
		c.MaxSessions = 4
		c.BudgetQuietPeriod = time.Minute
	})
	clk := &clock{t: time.Now()}
	p.budget.mu.Lock() // maintain reads the clock already
	p.budget.now = clk.now
	p.budget.mu.Unlock()
	want := func(limit int32, refusals, dials int64, logins int) {
		t.Helper()
		st := p.Stat()
		if st.MaxSessionsEffective != limit || st.ConnectRefusals != refusals || st.Dials != dials || srv.Logins() != logins {
			t.Fatalf("MaxSessionsEffective=%d ConnectRefusals=%d Dials=%d Logins=%d, want %d %d %d %d",
				st.MaxSessionsEffective, st.ConnectRefusals, st.Dials, srv.Logins(), limit, refusals, dials, logins)
		}
	}
	acquire := func() *Session {
		t.Helper()
		s, err := p.Acquire(t.Context())
		if err != nil {
			t.Fatalf("Acquire: %v", err)
		}
		return s
	}
	s1, s2 := acquire(), acquire()
	want(4, 0, 2, 2)

	// A third is refused: the maximum drops to the two open, and the
	// waiter gets the first one released.
	w := acquireLater(t, p)
	waitFor(t, "the refusal", func() bool { return p.Stat().ConnectRefusals == 1 })
	want(2, 1, 3, 2)
	s1.Release()
	s3 := got(t, w)
	want(2, 1, 3, 2)

	// A quiet period, less a second, raises nothing; the whole one, one.
	clk.advance(time.Minute - time.Second)
	want(2, 1, 3, 2)
	clk.advance(time.Second)
	want(3, 1, 3, 2)

	// The probe is refused: back to the two open, and it waits.
	w = acquireLater(t, p)
	waitFor(t, "the probe's refusal", func() bool { return p.Stat().ConnectRefusals == 2 })
	want(2, 2, 4, 2)
	s2.Release()
	s4 := got(t, w)

	// The server now takes three: the next probe logs in and the maximum
	// stays at three; the one after is refused there.
	srv.SetMaxConns(3)
	clk.advance(time.Minute)
	want(3, 2, 4, 2)
	s5 := acquire()
	want(3, 2, 5, 3)
	clk.advance(time.Minute)
	want(4, 2, 5, 3)
	w = acquireLater(t, p)
	waitFor(t, "the third refusal", func() bool { return p.Stat().ConnectRefusals == 3 })
	want(3, 3, 6, 3)
	s5.Release()
	s6 := got(t, w)

	// Quiet periods raise it to MaxSessions and no further.
	clk.advance(10 * time.Minute)
	want(4, 3, 6, 3)
	for _, s := range []*Session{s3, s4, s6} {
		s.Release()
	}
}

// TestBudgetLoginSucceedsAbove: two logins are under way when the server
// refuses a third connection, so the refusal finds no session open and
// lowers the maximum to one; the two logins then succeed, and raise it to
// the two the server took: it settles at the server's limit, not below.
func TestBudgetLoginSucceedsAbove(t *testing.T) {
	srv := newServer(t, ftptest.WithMaxConns(2))
	refused := make(chan struct{})
	srv.Handle("PASS", func(c *ftptest.Conn, arg string) {
		select {
		case <-refused:
		case <-c.Done():
		}
		c.Default("PASS", arg)
	})
	p := newPool(t, srv.Addr, func(c *Config) {
		c.MaxSessions = 8
		c.BudgetQuietPeriod = time.Hour
	})
	var ws []<-chan *Session
	for range 2 {
		ws = append(ws, acquireLater(t, p))
	}
	waitFor(t, "two logins under way", func() bool { return count(srv, "PASS pass") == 2 })
	w3 := acquireLater(t, p)
	waitFor(t, "the refusal", func() bool { return p.Stat().ConnectRefusals == 1 })
	if got := p.Stat().MaxSessionsEffective; got != 1 {
		t.Fatalf("MaxSessionsEffective = %d after a refusal with no session open, want 1", got)
	}
	close(refused)
	s1, s2 := got(t, ws[0]), got(t, ws[1])
	if st := p.Stat(); st.MaxSessionsEffective != 2 || srv.Logins() != 2 {
		t.Errorf("MaxSessionsEffective=%d Logins=%d after two logins, want 2 2", st.MaxSessionsEffective, srv.Logins())
	}
	s1.Release()
	s2.Release()
	got(t, w3).Release()
}

// TestBudgetConcurrent: eight callers at once on a server that takes two
// sessions all succeed, none failing that could have waited; the
// effective maximum settles at two.
func TestBudgetConcurrent(t *testing.T) {
	srv := newServer(t, ftptest.WithMaxConns(2))
	p := newPool(t, srv.Addr, func(c *Config) { c.MaxSessions = 8 })
	ctx := t.Context()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			err := p.Do(ctx, func(c *ftpcore.Conn) error {
				time.Sleep(30 * time.Millisecond) // a transfer under way
				return size(ctx, c)
			})
			if err != nil {
				t.Errorf("Do #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	st := p.Stat()
	if st.MaxSessionsEffective != 2 || st.ConnectRefusals == 0 || srv.Logins() != 2 {
		t.Errorf("MaxSessionsEffective=%d ConnectRefusals=%d Logins=%d, want 2, some, 2",
			st.MaxSessionsEffective, st.ConnectRefusals, srv.Logins())
	}
}

// TestBudgetServerTakesNone: a server that refuses every connection costs
// the caller the whole AcquireTimeout of retries with back-off, not an
// error at the first, and then the refusal; the maximum stays at one.
func TestBudgetServerTakesNone(t *testing.T) {
	tests := []struct {
		name     string
		server   func(t *testing.T) *ftptest.Server
		wantCode int
	}{
		{
			name: "full with another client's session",
			server: func(t *testing.T) *ftptest.Server {
				srv := newServer(t, ftptest.WithMaxConns(1))
				other, err := ftpcore.Dial(t.Context(), ftpcore.Config{Addr: srv.Addr, User: "user", Password: "pass"})
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				t.Cleanup(func() { other.Close() })
				return srv
			},
			wantCode: ftpcore.StatusNotAvailable,
		},
		{
			name: "421 greeting",
			server: func(t *testing.T) *ftptest.Server {
				return newServer(t, ftptest.WithGreeting(421, "Too many users."))
			},
			wantCode: ftpcore.StatusNotAvailable,
		},
		{
			// proftpd's MaxClients and MaxConnectionsPerHost.
			name: "530 greeting",
			server: func(t *testing.T) *ftptest.Server {
				return newServer(t, ftptest.WithGreeting(530, "Sorry, the maximum number of connections (2) for your host are already connected."))
			},
			wantCode: ftpcore.StatusNotLoggedIn,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tt.server(t)
			const timeout = 400 * time.Millisecond
			p := newPool(t, srv.Addr, func(c *Config) { c.AcquireTimeout = timeout })
			start := time.Now()
			s, err := p.Acquire(t.Context())
			if err == nil {
				s.Release()
				t.Fatal("Acquire succeeded")
			}
			if d := time.Since(start); d < timeout {
				t.Errorf("Acquire failed after %v, want the whole AcquireTimeout %v", d, timeout)
			}
			var ce *ConnectError
			if !errors.As(err, &ce) || ftpcore.ReplyCode(err) != tt.wantCode {
				t.Errorf("Acquire error = %v, want a *ConnectError with the %d", err, tt.wantCode)
			}
			st := p.Stat()
			// Back-offs of 12-37, 25-75, 50-150 and 100-300 ms fit at
			// most 5 dials in 400 ms, at least 3. Each is refused, but
			// the last may be cut by the deadline before its greeting.
			if st.Dials < 3 || st.Dials > 6 || st.ConnectRefusals < st.Dials-1 || st.ConnectRefusals > st.Dials || st.MaxSessionsEffective != 1 {
				t.Errorf("Dials=%d ConnectRefusals=%d MaxSessionsEffective=%d, want 3 to 6, as many or one fewer, 1",
					st.Dials, st.ConnectRefusals, st.MaxSessionsEffective)
			}
		})
	}
}
