package pool

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// newUsers returns Users on srv, which knows user/pass, alice/a-pw and
// bob/b-pw; closed at cleanup. mod adjusts the config.
func newUsers(t *testing.T, srv *ftptest.Server, mod func(*UsersConfig)) *Users {
	t.Helper()
	cfg := UsersConfig{
		Pool: Config{
			Name: "test",
			Conn: ftpcore.Config{
				Addr:           srv.Addr,
				User:           "ignored",
				Password:       "ignored",
				DialTimeout:    2 * time.Second,
				CommandTimeout: 2 * time.Second,
			},
			AcquireTimeout:     5 * time.Second,
			HealthCheckTimeout: time.Second,
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	u, err := NewUsers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(u.Close)
	return u
}

func usersServer(t *testing.T) *ftptest.Server {
	return newServer(t, ftptest.WithMoreUsers("alice", "a-pw", "bob", "b-pw"))
}

// countCmd counts the commands srv received that are cmd or start with
// cmd and a space.
func countCmd(srv *ftptest.Server, cmd string) int {
	n := 0
	for _, c := range srv.Commands() {
		if c == cmd || strings.HasPrefix(c, cmd+" ") {
			n++
		}
	}
	return n
}

// getSize gets a lease for user and password and runs SIZE on its pool.
func getSize(t *testing.T, u *Users, user, password string) *Lease {
	t.Helper()
	l, err := u.Get(context.Background(), user, password)
	if err != nil {
		t.Fatalf("Get(%s): %v", user, err)
	}
	ctx := context.Background()
	if err := l.Pool().Do(ctx, func(c *ftpcore.Conn) error { return size(ctx, c) }); err != nil {
		t.Fatalf("SIZE as %s: %v", user, err)
	}
	return l
}

func TestUsersLogInAsTheUser(t *testing.T) {
	srv := usersServer(t)
	u := newUsers(t, srv, nil)
	l := getSize(t, u, "alice", "a-pw")
	l.Release(nil)
	// The first login is the one the request's work then uses.
	if got := srv.Logins(); got != 1 {
		t.Errorf("logins = %d, want 1", got)
	}
	if got := countCmd(srv, "USER alice"); got != 1 {
		t.Errorf("USER alice sent %d times, want 1; commands %q", got, srv.Commands())
	}
	// Again: the same pool, no new login.
	l = getSize(t, u, "alice", "a-pw")
	l.Release(nil)
	if got := srv.Logins(); got != 1 {
		t.Errorf("logins after a second request = %d, want 1", got)
	}
	if ex := u.Existing("alice", "a-pw"); ex == nil {
		t.Error("Existing: no lease on alice's open pool")
	} else {
		ex.Release(nil)
	}
	if ex := u.Existing("alice", "wrong"); ex != nil {
		t.Error("Existing with a wrong password gave alice's pool")
	}
}

func TestUsersWrongPasswordKeepsNoPool(t *testing.T) {
	srv := usersServer(t)
	u := newUsers(t, srv, nil)
	_, err := u.Get(context.Background(), "alice", "wrong")
	if !IsLoginFailure(err) {
		t.Fatalf("Get with a wrong password: %v, want a login failure", err)
	}
	if IsRefusal(err) {
		t.Errorf("a refused password is taken for a refusal of the connection: %v", err)
	}
	if st := u.Stat(); st.Pools != 0 || st.LoginFailures != 1 {
		t.Errorf("after a refused login: %d pools, %d login failures; want 0 and 1", st.Pools, st.LoginFailures)
	}
	// One attempt, not retried.
	if got := countCmd(srv, "PASS"); got != 1 {
		t.Errorf("PASS sent %d times, want 1", got)
	}
	// The right password then logs in, in a pool of its own.
	l := getSize(t, u, "alice", "a-pw")
	defer l.Release(nil)
	if st := u.Stat(); st.Pools != 1 {
		t.Errorf("pools = %d, want 1", st.Pools)
	}
}

func TestUsersConcurrentRequestsShareOneLogin(t *testing.T) {
	srv := usersServer(t)
	srv.SetReplyDelay(50 * time.Millisecond) // the logins overlap
	u := newUsers(t, srv, nil)
	var wg sync.WaitGroup
	pools := make([]*Pool, 6)
	for i := range pools {
		wg.Go(func() {
			l, err := u.Get(context.Background(), "bob", "b-pw")
			if err != nil {
				t.Error(err)
				return
			}
			pools[i] = l.Pool()
			l.Release(nil)
		})
	}
	wg.Wait()
	for _, p := range pools[1:] {
		if p != pools[0] {
			t.Fatal("concurrent requests of one user got different pools")
		}
	}
	if got := srv.Logins(); got != 1 {
		t.Errorf("logins = %d, want 1", got)
	}
}

func TestUsersBounded(t *testing.T) {
	srv := usersServer(t)
	u := newUsers(t, srv, func(c *UsersConfig) { c.MaxUsers = 2 })
	la := getSize(t, u, "alice", "a-pw")
	lb := getSize(t, u, "bob", "b-pw")

	// Both busy: no room for a third.
	if _, err := u.Get(context.Background(), "user", "pass"); !errors.Is(err, ErrTooManyUsers) {
		t.Fatalf("third user with both pools busy: %v, want ErrTooManyUsers", err)
	}
	if got := countCmd(srv, "USER user"); got != 0 {
		t.Errorf("the third user was logged in %d times with no room for it", got)
	}

	// alice's pool is idle and used least recently: it makes room.
	la.Release(nil)
	time.Sleep(10 * time.Millisecond)
	lb.Release(nil)
	lu := getSize(t, u, "user", "pass")
	defer lu.Release(nil)
	st := u.Stat()
	if st.Pools != 2 || st.ClosedEvicted != 1 {
		t.Errorf("pools %d, evicted %d; want 2 and 1", st.Pools, st.ClosedEvicted)
	}
	if ex := u.Existing("alice", "a-pw"); ex != nil {
		ex.Release(nil)
		t.Error("alice's pool is still open")
	}
	if ex := u.Existing("bob", "b-pw"); ex == nil {
		t.Error("bob's pool, the more recently used, was closed")
	} else {
		ex.Release(nil)
	}
	// Its session said goodbye.
	waitFor(t, "the evicted session's QUIT", func() bool { return countCmd(srv, "QUIT") == 1 })
}

func TestUsersIdlePoolsClose(t *testing.T) {
	srv := usersServer(t)
	u := newUsers(t, srv, func(c *UsersConfig) { c.IdleTimeout = 100 * time.Millisecond })
	l := getSize(t, u, "alice", "a-pw")
	// Held: not idle, however long.
	time.Sleep(300 * time.Millisecond)
	if st := u.Stat(); st.Pools != 1 || countCmd(srv, "QUIT") != 0 {
		t.Fatalf("a pool in use was closed: %d pools, %d QUIT", st.Pools, countCmd(srv, "QUIT"))
	}
	l.Release(nil)
	waitFor(t, "the idle pool closed", func() bool { return u.Stat().Pools == 0 && countCmd(srv, "QUIT") == 1 })
	if st := u.Stat(); st.ClosedIdle != 1 {
		t.Errorf("closed for idleness: %d, want 1", st.ClosedIdle)
	}
}

func TestUsersNewPasswordNewPool(t *testing.T) {
	srv := usersServer(t)
	u := newUsers(t, srv, nil)
	l := getSize(t, u, "alice", "a-pw")
	first := l.Pool()
	// The password changes on the server: the old pool's next dial is
	// refused, which closes it.
	l.Release(&ftpcore.Error{Cmd: "login", Code: ftpcore.StatusNotLoggedIn, Msg: "Login incorrect."})
	if st := u.Stat(); st.Pools != 0 || st.ClosedLoginFailed != 1 {
		t.Errorf("after a refused login of an open pool: %d pools, %d closed; want 0, 1", st.Pools, st.ClosedLoginFailed)
	}
	l = getSize(t, u, "alice", "a-pw")
	defer l.Release(nil)
	if l.Pool() == first {
		t.Error("the closed pool was given out again")
	}
}

func TestIsLoginFailure(t *testing.T) {
	tests := []struct {
		name           string
		err            error
		login, refusal bool
	}{
		{"530 after PASS", &ftpcore.Error{Cmd: "login", Code: 530}, true, false},
		{"430 after PASS", &ftpcore.Error{Cmd: "login", Code: 430}, true, false},
		{"332 without an account", &ftpcore.Error{Cmd: "PASS", Code: 332}, true, false},
		{"530 greeting (proftpd's too many)", &ftpcore.Error{Cmd: "greeting", Code: 530}, false, true},
		{"421 greeting", &ftpcore.Error{Cmd: "greeting", Code: 421}, false, true},
		{"421 after PASS", &ftpcore.Error{Cmd: "login", Code: 421}, false, true},
		{"530 to RETR", &ftpcore.Error{Cmd: "RETR", Code: 530}, false, false},
		{"wrapped", &ConnectError{Err: &ftpcore.Error{Cmd: "login", Code: 530}}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsLoginFailure(tt.err); got != tt.login {
				t.Errorf("IsLoginFailure = %v, want %v", got, tt.login)
			}
			if got := IsRefusal(tt.err); got != tt.refusal {
				t.Errorf("IsRefusal = %v, want %v", got, tt.refusal)
			}
		})
	}
}

func TestUsersGreet(t *testing.T) {
	srv := usersServer(t)
	u := newUsers(t, srv, nil)
	if err := u.Greet(context.Background()); err != nil {
		t.Fatalf("Greet: %v", err)
	}
	if srv.Logins() != 0 || countCmd(srv, "USER") != 0 {
		t.Errorf("Greet logged in: commands %q", srv.Commands())
	}
	busy := newServer(t, ftptest.WithGreeting(421, "Too many connections."))
	if err := newUsers(t, busy, nil).Greet(context.Background()); ftpcore.ReplyCode(err) != 421 {
		t.Errorf("Greet of a 421 greeting: %v", err)
	}
}

func TestUsersCollector(t *testing.T) {
	srv := usersServer(t)
	u := newUsers(t, srv, nil)
	getSize(t, u, "alice", "a-pw").Release(nil)
	u.Get(context.Background(), "bob", "wrong")
	want := `
# HELP ftpgw_user_pools_open Users' pools open: one for each user (and password) with a recent request.
# TYPE ftpgw_user_pools_open gauge
ftpgw_user_pools_open{backend="test"} 1
# HELP ftpgw_user_pools_login_failures_total First logins of a user's pool that the FTP server refused.
# TYPE ftpgw_user_pools_login_failures_total counter
ftpgw_user_pools_login_failures_total{backend="test"} 1
# HELP ftpgw_user_pools_sessions FTP sessions of the users' pools (Basic passthrough) by state, summed over users.
# TYPE ftpgw_user_pools_sessions gauge
ftpgw_user_pools_sessions{backend="test",state="acquired"} 0
ftpgw_user_pools_sessions{backend="test",state="constructing"} 0
ftpgw_user_pools_sessions{backend="test",state="idle"} 1
`
	if err := testutil.CollectAndCompare(NewUsersCollector(u), strings.NewReader(want),
		"ftpgw_user_pools_open", "ftpgw_user_pools_login_failures_total", "ftpgw_user_pools_sessions"); err != nil {
		t.Error(err)
	}
}
