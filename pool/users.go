package pool

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
)

// Defaults of UsersConfig.
const (
	DefaultMaxUsers           = 64
	DefaultUserIdleTimeout    = 5 * time.Minute
	DefaultMaxSessionsPerUser = 2
)

// UsersConfig configures Users. Zero values mean the documented defaults.
type UsersConfig struct {
	// Pool is the model of every user's pool: the backend's Name, its
	// Conn (address, TLS, timeouts) and the pool's limits. Conn.User and
	// Conn.Password are ignored: each pool logs in as its user.
	// MaxSessions is per user, default DefaultMaxSessionsPerUser (2);
	// MinSessions is always 0, so that a user's pool holds sessions only
	// while that user is using them.
	Pool Config
	// MaxUsers is the most pools open at once, one for each user (and
	// password) with requests in the last IdleTimeout. Default
	// DefaultMaxUsers (64).
	MaxUsers int
	// IdleTimeout is how long a user's pool stays open with no request
	// in flight before it is closed, its sessions with it. Default
	// DefaultUserIdleTimeout (5 minutes).
	IdleTimeout time.Duration
}

// ErrTooManyUsers is returned by Users.Get when MaxUsers pools are open
// and every one of them has a request in flight: there is none to close
// for a new user.
var ErrTooManyUsers = errors.New("pool: every user's pool is busy")

// IsLoginFailure tells whether a failed dial is the server refusing the
// credentials: 530 or 430 (RFC 2577) to USER or PASS, or a 332 asking for
// an account the gateway does not have. A 530 greeting is not one: it
// asks for no credential, and is proftpd's refusal for having too many
// connections (IsRefusal).
func IsLoginFailure(err error) bool {
	var fe *ftpcore.Error
	if !errors.As(err, &fe) || (fe.Cmd != "login" && fe.Cmd != "PASS") {
		return false
	}
	switch fe.Code {
	case ftpcore.StatusNotLoggedIn, ftpcore.StatusNeedAccount, 430:
		return true
	}
	return false
}

// Users keeps a small Pool for each user that logs in through it (HTTP
// Basic passthrough): the key is the user name and a keyed hash (HMAC with
// a random key of the process) of the password, so that a request with a
// wrong password never gets a session logged in with the right one, and a
// password changed gets a pool of its own. No password is kept outside
// the pools' ftpcore.Config.
//
// A pool is made on a user's first request and proved by a login before
// any request uses it: a login the server refuses leaves no pool behind.
// Pools with no request in flight are closed after IdleTimeout, and the
// least recently used of them when MaxUsers are open and another user
// comes. Safe for concurrent use.
type Users struct {
	cfg  UsersConfig
	key  [32]byte
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	// closing counts the pools being closed in the background.
	closing sync.WaitGroup

	mu     sync.Mutex
	pools  map[userKey]*userPool
	closed bool

	// Pools closed, by why, and the logins the server refused.
	closedIdle, closedEvicted, closedLogin, loginFailures atomic.Int64
}

// userKey is a user name and the HMAC of its password.
type userKey struct {
	user string
	mac  [sha256.Size]byte
}

// userPool is one user's pool, and who uses it. Its fields but p and err
// belong to Users.mu; p and err are set before ready is closed.
type userPool struct {
	key   userKey
	ready chan struct{}
	p     *Pool
	err   error
	refs  int       // Leases and Gets under way
	last  time.Time // when last given out or given back
	gone  bool      // out of the map: closed when refs is 0
}

// NewUsers returns a Users for cfg. No pool is made until the first Get.
func NewUsers(cfg UsersConfig) (*Users, error) {
	if cfg.Pool.Conn.Addr == "" {
		return nil, errors.New("pool: Conn.Addr is empty")
	}
	if cfg.Pool.MaxSessions <= 0 {
		cfg.Pool.MaxSessions = DefaultMaxSessionsPerUser
	}
	cfg.Pool.MinSessions = 0
	cfg.Pool.Conn.User, cfg.Pool.Conn.Password, cfg.Pool.Conn.Account = "", "", ""
	if cfg.MaxUsers <= 0 {
		cfg.MaxUsers = DefaultMaxUsers
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultUserIdleTimeout
	}
	if cfg.Pool.Name == "" {
		cfg.Pool.Name = "default"
	}
	if cfg.Pool.Conn.TLS != ftpcore.TLSOff {
		// One session cache for the backend, whoever logs in: TLS
		// resumption is below the login.
		tc := &tls.Config{}
		if cfg.Pool.Conn.TLSConfig != nil {
			tc = cfg.Pool.Conn.TLSConfig.Clone()
		}
		if tc.ClientSessionCache == nil {
			tc.ClientSessionCache = tls.NewLRUClientSessionCache(4 * int(cfg.Pool.MaxSessions) * cfg.MaxUsers)
		}
		cfg.Pool.Conn.TLSConfig = tc
	}
	u := &Users{cfg: cfg, stop: make(chan struct{}), pools: make(map[userKey]*userPool)}
	rand.Read(u.key[:])
	u.wg.Add(1)
	go u.expire()
	return u, nil
}

// Name returns the backend's name.
func (u *Users) Name() string { return u.cfg.Pool.Name }

// AcquireTimeout returns the AcquireTimeout of each user's pool.
func (u *Users) AcquireTimeout() time.Duration {
	c := u.cfg.Pool
	c.setDefaults()
	return c.AcquireTimeout
}

// Greet proves the FTP server is there and greets connections with 220,
// without logging in: Users has no credential of its own.
func (u *Users) Greet(ctx context.Context) error {
	return ftpcore.Greet(ctx, u.cfg.Pool.Conn)
}

func (u *Users) keyOf(user, password string) userKey {
	m := hmac.New(sha256.New, u.key[:])
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(password))
	k := userKey{user: user}
	m.Sum(k.mac[:0])
	return k
}

// Lease is a user's pool, held for one request: the pool is not closed
// for idleness or to make room while a Lease on it is held. Call Release
// when the request is done; do not use the Pool after.
type Lease struct {
	u    *Users
	up   *userPool
	done bool
}

// Pool returns the user's pool.
func (l *Lease) Pool() *Pool { return l.up.p }

// Release gives the lease back. err is the request's error: a login
// failure (a session dialled for the pool was refused its credentials,
// as when the password was changed on the server) closes the pool, so
// that the next request with that password logs in afresh.
func (l *Lease) Release(err error) {
	if l.done {
		return
	}
	l.done = true
	if IsLoginFailure(err) {
		l.u.mu.Lock()
		if l.u.dropLocked(l.up) {
			l.u.closedLogin.Add(1)
		}
		l.u.mu.Unlock()
	}
	l.u.release(l.up)
}

// Existing returns a lease on the open pool of user with password, or
// nil when there is none (or it is still logging in): it never dials.
func (u *Users) Existing(user, password string) *Lease {
	k := u.keyOf(user, password)
	u.mu.Lock()
	defer u.mu.Unlock()
	up := u.pools[k]
	if up == nil || up.p == nil {
		return nil
	}
	up.refs++
	up.last = time.Now()
	return &Lease{u: u, up: up}
}

// Get returns a lease on the pool of user with password, making the pool
// and logging one session in when there is none. An error that
// IsLoginFailure means the server refused the credentials; no pool is
// kept for them. ErrTooManyUsers means there is no room for a new pool.
// Concurrent Gets for the same user and password share one login.
func (u *Users) Get(ctx context.Context, user, password string) (*Lease, error) {
	k := u.keyOf(user, password)
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil, ErrClosed
	}
	up := u.pools[k]
	fresh := up == nil
	if fresh {
		if len(u.pools) >= u.cfg.MaxUsers && !u.evictLocked() {
			u.mu.Unlock()
			return nil, ErrTooManyUsers
		}
		up = &userPool{key: k, ready: make(chan struct{})}
		u.pools[k] = up
	}
	up.refs++
	up.last = time.Now()
	u.mu.Unlock()
	if fresh {
		// The login goes on if this caller gives up, for those waiting
		// on it: its error must be about the credentials, not about one
		// client's going. AcquireTimeout bounds it.
		u.open(context.WithoutCancel(ctx), up, user, password)
	}
	select {
	case <-up.ready:
	case <-ctx.Done():
		u.release(up)
		return nil, ctx.Err()
	}
	if up.err != nil {
		u.release(up)
		return nil, up.err
	}
	return &Lease{u: u, up: up}, nil
}

// open makes up's pool and proves the credentials with a first session,
// which stays in the pool for the request that asked. On failure the
// entry leaves the map, and every Get waiting on it gets the error.
func (u *Users) open(ctx context.Context, up *userPool, user, password string) {
	cfg := u.cfg.Pool
	cfg.Conn.User, cfg.Conn.Password = user, password
	p, err := New(cfg)
	if err == nil {
		var s *Session
		if s, err = p.Acquire(ctx); err == nil {
			s.Release()
		}
	}
	if err != nil {
		if IsLoginFailure(err) {
			u.loginFailures.Add(1)
		}
		u.mu.Lock()
		u.dropLocked(up)
		u.mu.Unlock()
		if p != nil {
			p.Close() // no session: quick
		}
		up.err = err
	} else {
		u.mu.Lock()
		up.p = p
		u.mu.Unlock()
	}
	close(up.ready)
}

// evictLocked closes the least recently used pool that no request holds,
// and reports whether there was one. u.mu is held.
func (u *Users) evictLocked() bool {
	var lru *userPool
	for _, up := range u.pools {
		if up.refs == 0 && (lru == nil || up.last.Before(lru.last)) {
			lru = up
		}
	}
	if lru == nil {
		return false
	}
	u.dropLocked(lru)
	u.closedEvicted.Add(1)
	return true
}

// dropLocked takes up out of the map, closing its pool now if nobody
// holds it, else when the last lease goes; false if it was out already.
// u.mu is held.
func (u *Users) dropLocked(up *userPool) bool {
	if up.gone {
		return false
	}
	up.gone = true
	if u.pools[up.key] == up {
		delete(u.pools, up.key)
	}
	if up.refs == 0 {
		u.closeAsync(up)
	}
	return true
}

// release gives back one reference to up.
func (u *Users) release(up *userPool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	up.refs--
	up.last = time.Now()
	if up.refs == 0 && up.gone {
		u.closeAsync(up)
	}
}

// closeAsync closes up's pool in the background: its QUITs take a round
// trip each. u.mu is held.
func (u *Users) closeAsync(up *userPool) {
	p := up.p
	if p == nil {
		return // a pool that failed to open closes itself
	}
	up.p = nil
	u.closing.Add(1)
	go func() {
		defer u.closing.Done()
		p.Close()
	}()
}

// expire closes, every quarter of IdleTimeout (at most a minute), the
// pools idle longer than IdleTimeout.
func (u *Users) expire() {
	defer u.wg.Done()
	t := time.NewTicker(min(max(u.cfg.IdleTimeout/4, 10*time.Millisecond), time.Minute))
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case now := <-t.C:
			u.mu.Lock()
			for _, up := range u.pools {
				if up.refs == 0 && now.Sub(up.last) > u.cfg.IdleTimeout {
					u.dropLocked(up)
					u.closedIdle.Add(1)
				}
			}
			u.mu.Unlock()
		}
	}
}

// Close closes every pool, waiting for the requests that hold them, and
// makes later Gets fail with ErrClosed.
func (u *Users) Close() {
	u.once.Do(func() {
		close(u.stop)
		u.wg.Wait()
		u.mu.Lock()
		u.closed = true
		for _, up := range u.pools {
			u.dropLocked(up)
		}
		u.mu.Unlock()
		u.closing.Wait()
	})
}

// UsersStat is a snapshot of Users: the pools open and their sessions,
// summed over users so that no user name becomes a metric label.
type UsersStat struct {
	// Pools is the number of users' pools open (or opening).
	Pools int
	// AcquiredSessions, IdleSessions and ConstructingSessions are summed
	// over the open pools.
	AcquiredSessions, IdleSessions, ConstructingSessions int32
	// ClosedIdle, ClosedEvicted and ClosedLoginFailed count pools closed
	// for IdleTimeout, to make room for another user, and because a login
	// of theirs was refused.
	ClosedIdle, ClosedEvicted, ClosedLoginFailed int64
	// LoginFailures counts the first logins of new pools the server
	// refused (IsLoginFailure).
	LoginFailures int64
}

// Stat returns a snapshot of u's statistics.
func (u *Users) Stat() *UsersStat {
	st := &UsersStat{
		ClosedIdle:        u.closedIdle.Load(),
		ClosedEvicted:     u.closedEvicted.Load(),
		ClosedLoginFailed: u.closedLogin.Load(),
		LoginFailures:     u.loginFailures.Load(),
	}
	u.mu.Lock()
	st.Pools = len(u.pools)
	pools := make([]*Pool, 0, len(u.pools))
	for _, up := range u.pools {
		if up.p != nil {
			pools = append(pools, up.p)
		}
	}
	u.mu.Unlock()
	for _, p := range pools {
		ps := p.p.Stat()
		st.AcquiredSessions += ps.AcquiredResources()
		st.IdleSessions += ps.IdleResources()
		st.ConstructingSessions += ps.ConstructingResources()
	}
	return st
}

// sessionCounts are the idle, acquired and constructing sessions.
func (s *UsersStat) sessionCounts() [3]int32 {
	return [3]int32{s.IdleSessions, s.AcquiredSessions, s.ConstructingSessions}
}
