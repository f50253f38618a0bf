// Package pool keeps bounded pools of logged-in ftpcore sessions, one pool
// per FTP backend (or, for HTTP Basic passthrough, one per user of it:
// Users), on github.com/jackc/puddle/v2. It is modelled on pgxpool:
// sessions are dialled lazily, health-checked with NOOP after an idle gap,
// retired after a lifetime with jitter, and destroyed on release whenever
// their state is not known to be clean.
//
// A session found dead by the server's doing (its control connection lost,
// a 421, a failed health check) casts doubt on every session opened no
// later than it: a server that restarted or dropped its connections took
// them all. Acquire proves each of those with NOOP before handing it out,
// whatever its idle time, and Begin retries an operation whose session
// turns out stale as long as that session was open before the operation
// began, so a restart that is over costs no request a failure.
package pool

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/jackc/puddle/v2"
)

// Defaults of Config, used where a field is zero and by callers (flags,
// tests) that show or set them. MinSessions has none: its zero, dialling
// on demand only, is a setting of its own.
const (
	DefaultMaxSessions          = 8
	DefaultMaxLifetime          = 30 * time.Minute
	DefaultMaxIdleTime          = 5 * time.Minute
	DefaultHealthCheckAfterIdle = 5 * time.Second
	DefaultHealthCheckTimeout   = 2 * time.Second
	DefaultHealthCheckPeriod    = time.Minute
	DefaultAcquireTimeout       = 10 * time.Second
	DefaultBudgetQuietPeriod    = time.Minute
)

// Config configures a Pool. Zero values mean the documented defaults (the
// Default… constants), set in one place (setDefaults).
type Config struct {
	// Name names the backend in metrics and logs. Default "default".
	Name string
	// Conn says how to dial and log in to the backend.
	Conn ftpcore.Config
	// MaxSessions is the most sessions open at once. Default
	// DefaultMaxSessions (8).
	MaxSessions int32
	// MinSessions is the fewest sessions kept open: dialled in the
	// background when the pool starts and whenever sessions close, and
	// never closed for idleness, so requests find a logged-in session
	// waiting. Default 0: sessions are dialled on demand. At most
	// MaxSessions.
	MinSessions int32
	// MaxLifetime is how long a session lives before it is retired at its
	// next release or health check. Default DefaultMaxLifetime (30 minutes).
	MaxLifetime time.Duration
	// MaxLifetimeJitter is the most added at random to MaxLifetime for each
	// session, so sessions opened together do not all expire together.
	// Default MaxLifetime/10.
	MaxLifetimeJitter time.Duration
	// MaxIdleTime is how long a session may sit idle before the periodic
	// check (HealthCheckPeriod) closes it. Default DefaultMaxIdleTime (5
	// minutes).
	MaxIdleTime time.Duration
	// HealthCheckAfterIdle is the idle gap after which Acquire proves a
	// session alive with NOOP before handing it out. Default
	// DefaultHealthCheckAfterIdle (5 seconds).
	HealthCheckAfterIdle time.Duration
	// HealthCheckTimeout bounds that NOOP, and the QUIT that says goodbye
	// to a session being closed. Default DefaultHealthCheckTimeout (2
	// seconds).
	HealthCheckTimeout time.Duration
	// HealthCheckPeriod is how often idle sessions are checked for
	// MaxIdleTime and MaxLifetime in the background; no command is sent.
	// Default DefaultHealthCheckPeriod (1 minute).
	HealthCheckPeriod time.Duration
	// AcquireTimeout bounds the wait for a session, dialling included.
	// Default DefaultAcquireTimeout (10 seconds).
	AcquireTimeout time.Duration
	// BudgetQuietPeriod is how long the server must go without refusing a
	// connection for having too many (a 421, or proftpd's 530 greeting)
	// before the pool raises its effective maximum, lowered by such a
	// refusal to the sessions open at the time, by one towards
	// MaxSessions; each further quiet period raises it by one more.
	// Default DefaultBudgetQuietPeriod (1 minute).
	BudgetQuietPeriod time.Duration
	// ArmIdle has each session that comes back to the pool dial the data
	// connection of its next transfer before it is handed out again
	// (ftpcore.Conn.Arm: the passive command and the dial, done while no
	// request waits on them), so that a download on a warm session has its
	// first byte one round trip after its request rather than three. The
	// session is back in the pool at once; one taken again before the
	// passive reply is read waits for it (ftpcore.Conn.ArmAsync). Off by
	// default.
	ArmIdle bool
	// Logger receives session lifecycle events at Debug and failures at
	// Warn. Default: discard.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = "default"
	}
	setDefault(&c.MaxSessions, DefaultMaxSessions)
	c.MinSessions = min(c.MinSessions, c.MaxSessions)
	setDefault(&c.MaxLifetime, DefaultMaxLifetime)
	setDefault(&c.MaxLifetimeJitter, c.MaxLifetime/10)
	setDefault(&c.MaxIdleTime, DefaultMaxIdleTime)
	setDefault(&c.HealthCheckAfterIdle, DefaultHealthCheckAfterIdle)
	setDefault(&c.HealthCheckTimeout, DefaultHealthCheckTimeout)
	setDefault(&c.HealthCheckPeriod, DefaultHealthCheckPeriod)
	setDefault(&c.AcquireTimeout, DefaultAcquireTimeout)
	setDefault(&c.BudgetQuietPeriod, DefaultBudgetQuietPeriod)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// setDefault sets *v to def when it is zero or negative: unset.
func setDefault[T int32 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// ErrExhausted is returned by Acquire when every session stayed busy for
// the whole AcquireTimeout.
var ErrExhausted = errors.New("pool: all sessions busy")

// ErrClosed is returned by Acquire after Close.
var ErrClosed = errors.New("pool: closed")

// ConnectError wraps a failure to dial or log in to the backend.
type ConnectError struct {
	Backend string
	Err     error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("pool %s: connecting: %v", e.Backend, e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// session is what the puddle pool holds.
type session struct {
	conn    *ftpcore.Conn
	expires time.Time
	// seq numbers the sessions in the order they were opened (logged
	// in), from 1.
	seq uint64
	// cleared is the highest suspect mark (Pool.suspect) the session is
	// known to have outlived: seq-1 when opened, as a session is not
	// suspected of the death of one opened after it, and the mark seen
	// before its last NOOP succeeded. Read and written only by whoever
	// holds the session.
	cleared uint64
}

// Pool is a bounded pool of logged-in sessions to one backend. It is safe
// for concurrent use.
type Pool struct {
	cfg    Config
	p      *puddle.Pool[*session]
	budget *budget
	log    *slog.Logger
	stop   chan struct{}
	wake   chan struct{} // a session was destroyed: top up MinSessions
	wg     sync.WaitGroup
	once   sync.Once
	// closing counts the sessions destroy is still saying goodbye to, so
	// that Close waits for them.
	closing sync.WaitGroup

	dials, dialErrors, staleRetries atomic.Int64
	// opened numbers the sessions as they are opened (session.seq).
	opened atomic.Uint64
	// loggedIn counts the sessions logged in and not yet closed, as the
	// server counts them: from the login's success to the end of
	// destruct. puddle's own counts miss a session between its
	// constructor's return and its hand-over, so two logins that end
	// together would each see only itself.
	loggedIn atomic.Int32
	// suspect is the seq of the newest session found dead by the server's
	// doing (markSuspect); every session up to it that has not been proved
	// alive since is suspect. 0: none.
	suspect atomic.Uint64
	// down is the pool's last word on the server, for Ready: nil after a
	// dial that logged in (or that the server refused for having too
	// many sessions: it answered), the error of a dial that failed, or of
	// a session the server ended since. nil before the first dial.
	down atomic.Pointer[error]
	// The counters destroy counts under: why a session was destroyed.
	destroyedBroken, destroyedLifetime, destroyedIdle, destroyedHealthCheck atomic.Int64
	// proto measures dials, logins and replies (protometrics.go).
	proto *protoMetrics
}

// New returns a Pool for cfg. No session is dialled until the first
// Acquire.
func New(cfg Config) (*Pool, error) {
	cfg.setDefaults()
	if cfg.Conn.Addr == "" {
		return nil, errors.New("pool: Conn.Addr is empty")
	}
	if cfg.Conn.TLS != ftpcore.TLSOff {
		// One session cache for the backend: a new control connection
		// resumes a TLS session instead of a full handshake.
		tc := &tls.Config{}
		if cfg.Conn.TLSConfig != nil {
			tc = cfg.Conn.TLSConfig.Clone()
		}
		if tc.ClientSessionCache == nil {
			tc.ClientSessionCache = tls.NewLRUClientSessionCache(4 * int(cfg.MaxSessions))
		}
		cfg.Conn.TLSConfig = tc
	}
	p := &Pool{cfg: cfg, budget: newBudget(cfg.MaxSessions, cfg.BudgetQuietPeriod),
		log: cfg.Logger.With("backend", cfg.Name), stop: make(chan struct{}), wake: make(chan struct{}, 1),
		proto: newProtoMetrics(cfg.Name)}
	if on := cfg.Conn.OnReply; on != nil {
		p.cfg.Conn.OnReply = func(verb string, code int) { on(verb, code); p.proto.reply(verb, code) }
	} else {
		p.cfg.Conn.OnReply = p.proto.reply
	}
	var err error
	p.p, err = puddle.NewPool(&puddle.Config[*session]{
		Constructor: p.construct,
		Destructor:  p.destruct,
		MaxSize:     cfg.MaxSessions,
	})
	if err != nil {
		return nil, err
	}
	p.wg.Add(1)
	go p.maintain()
	return p, nil
}

// Name returns the backend's name.
func (p *Pool) Name() string { return p.cfg.Name }

// AcquireTimeout is the longest Acquire waits for a session (Config's,
// its default filled in).
func (p *Pool) AcquireTimeout() time.Duration { return p.cfg.AcquireTimeout }

func (p *Pool) construct(ctx context.Context) (*session, error) {
	p.dials.Add(1)
	c, err := ftpcore.Dial(ctx, p.cfg.Conn)
	if err != nil {
		p.dialErrors.Add(1)
		if IsRefusal(err) {
			p.down.Store(nil)
			open := p.loggedIn.Load()
			p.budget.refused(open)
			p.log.Warn("ftp server refused a session: too many", "open", open, "err", err)
			return nil, &ConnectError{Backend: p.cfg.Name, Err: err}
		}
		p.log.Warn("ftp session dial failed", "err", err)
		cerr := error(&ConnectError{Backend: p.cfg.Name, Err: err})
		if ctx.Err() == nil { // a dial given up says nothing of the server
			p.down.Store(&cerr)
		}
		return nil, cerr
	}
	p.down.Store(nil)
	p.budget.accepted(p.loggedIn.Add(1))
	connect, login := c.DialTimes()
	p.proto.connect.Observe(connect.Seconds())
	p.proto.login.Observe(login.Seconds())
	life := p.cfg.MaxLifetime + rand.N(p.cfg.MaxLifetimeJitter+1)
	seq := p.opened.Add(1)
	p.log.Debug("ftp session opened", "session", seq)
	return &session{conn: c, expires: time.Now().Add(life), seq: seq, cleared: seq - 1}, nil
}

func (p *Pool) destruct(s *session) {
	if s.conn.Usable() {
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.HealthCheckTimeout)
		s.conn.Quit(ctx)
		cancel()
	}
	s.conn.Close()
	p.loggedIn.Add(-1)
	p.log.Debug("ftp session closed")
}

// Session is one acquired session. Not safe for concurrent use; after
// Release or Destroy, do not use it or its Conn.
type Session struct {
	p     *Pool
	res   *puddle.Resource[*session]
	start uint64 // replies read when acquired
	done  bool
}

// Conn returns the session's FTP connection.
func (s *Session) Conn() *ftpcore.Conn { return s.res.Value().conn }

// Release returns the session to the pool, or destroys it when its state
// is unknown (the Conn says it is unusable, or a transfer on it was never
// closed) or its lifetime is over.
func (s *Session) Release() {
	if s.done {
		return
	}
	s.done = true
	sess := s.res.Value()
	switch {
	case !sess.conn.Usable(), sess.conn.Busy():
		s.p.destroy(s.res, &s.p.destroyedBroken, true)
	case time.Now().After(sess.expires):
		s.p.destroy(s.res, &s.p.destroyedLifetime, true)
	default:
		if s.p.cfg.ArmIdle {
			sess.conn.ArmAsync(s.p.cfg.HealthCheckTimeout)
		}
		s.res.Release()
		s.p.budget.leave()
	}
}

// Destroy closes the session instead of returning it.
func (s *Session) Destroy() {
	if s.done {
		return
	}
	s.done = true
	s.p.destroy(s.res, &s.p.destroyedBroken, true)
}

// Acquire returns a session, waiting up to AcquireTimeout. A session idle
// longer than HealthCheckAfterIdle, or suspect because a session opened no
// earlier than it was found dead (markSuspect), is proved alive with NOOP
// first; one that fails, or has outlived its lifetime, is destroyed and
// another taken.
//
// No more sessions are in use or dialled at once than the pool's effective
// maximum (budget). A dial the server refuses for having too many lowers
// it, and the caller waits on: for a session to come free, or for a retry
// of the dial after a jittered back-off.
func (p *Pool) Acquire(ctx context.Context) (*Session, error) {
	actx, cancel := context.WithTimeout(ctx, p.cfg.AcquireTimeout)
	defer cancel()
	var refusal error // the last refusal this call met
	for retries := 0; ; {
		if err := p.budget.enter(actx); err != nil {
			return nil, p.acquireErr(ctx, err, refusal)
		}
		res, err := p.p.Acquire(actx)
		if err != nil {
			p.budget.leave()
			if !IsRefusal(err) || actx.Err() != nil {
				return nil, p.acquireErr(ctx, err, refusal)
			}
			refusal = err
			if err := pause(actx, nil, refusedBackoff(retries)); err != nil {
				return nil, p.acquireErr(ctx, err, refusal)
			}
			retries++
			continue
		}
		sess := res.Value()
		if time.Now().After(sess.expires) {
			p.destroy(res, &p.destroyedLifetime, true)
			continue
		}
		if sess.conn.WaitArm(); !sess.conn.Usable() {
			// Lost while arming (Config.ArmIdle), after its release.
			p.destroy(res, &p.destroyedBroken, true)
			continue
		}
		// Without a suspect mark (suspect 0) the second test is never
		// true: the common case pays one atomic load for it.
		if mark := p.suspect.Load(); res.IdleDuration() > p.cfg.HealthCheckAfterIdle || mark > sess.cleared {
			hctx, hcancel := context.WithTimeout(actx, p.cfg.HealthCheckTimeout)
			err := sess.conn.Noop(hctx)
			hcancel()
			if err != nil {
				if ctx.Err() != nil {
					// The caller gave up mid-NOOP: the session is not
					// known to have failed, only to be out of step.
					p.destroy(res, &p.destroyedBroken, true)
					return nil, ctx.Err()
				}
				p.log.Debug("ftp session failed health check", "err", err)
				p.destroy(res, &p.destroyedHealthCheck, true)
				continue
			}
			// Alive after whatever killed the session behind mark, which
			// was set before the NOOP was sent.
			sess.cleared = max(sess.cleared, mark)
		}
		return &Session{p: p, res: res, start: sess.conn.Replies()}, nil
	}
}

// acquireErr is the error of an Acquire that failed with err, after
// refusal, the last refusal of a dial it met (nil: none). One that ran out
// of time waiting is ErrExhausted when the sessions it waited for were all
// in use, and the refusal when the server would take none.
func (p *Pool) acquireErr(ctx context.Context, err, refusal error) error {
	switch {
	case errors.Is(err, puddle.ErrClosedPool):
		return ErrClosed
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		if refusal != nil && p.loggedIn.Load() == 0 {
			return refusal
		}
		if limit, _ := p.budget.stat(); refusal != nil || p.p.Stat().TotalResources() >= limit {
			return ErrExhausted
		}
		return &ConnectError{Backend: p.cfg.Name, Err: err}
	}
	return err
}

// Begin acquires a session and runs fn on it. If fn fails because the
// session was stale — its first command met a 421 or a closed control
// connection — the session is destroyed and fn runs again on another one:
// always the first time, and after that for as long as the stale session is
// one that was open when Begin was called. A server that restarted before
// the call so costs it no failure, however many of its sessions died with
// the restart, while a session opened since that fails again has met a
// server failing now, and its error is returned. fn runs at most
// MaxSessions+2 times: each retry but the first ends one of the sessions
// open at the call. On success the session stays acquired for the caller (a
// transfer being streamed) and must be Released; on failure it has been
// released. fn may run more than once, so it must have no effect outside
// the session until its first command has succeeded.
func (p *Pool) Begin(ctx context.Context, fn func(*ftpcore.Conn) error) (*Session, error) {
	begun := p.opened.Load()
	for retried := false; ; retried = true {
		s, err := p.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		err = fn(s.Conn())
		if err == nil {
			return s, nil
		}
		// A session released with a transfer still open answers every
		// command with ErrBusy and sends nothing; it is as unusable as a
		// stale one, and safe to retry for the same reason. Release
		// cannot see that state, so without this it would stay pooled
		// and fail every caller that gets it.
		lost := ftpcore.IsConnLost(err) || errors.Is(err, ftpcore.ErrBusy)
		// Stale: the connection was found dead before any reply came, or
		// the first reply was the server's 421 goodbye.
		replies := s.Conn().Replies() - s.start
		firstWas421 := replies == 1 && ftpcore.ReplyCode(err) == ftpcore.StatusNotAvailable
		stale := lost && (replies == 0 || firstWas421) && ctx.Err() == nil
		if !lost {
			s.Release()
			return nil, err
		}
		// A 421 reply leaves the Conn usable as far as ftpcore can tell,
		// but the server is closing it; a busy one can take no command.
		// Pooling either would only hand the next caller a dead session.
		seq := s.res.Value().seq
		s.Destroy()
		if !stale || (retried && seq > begun) {
			return nil, err
		}
		p.staleRetries.Add(1)
		p.log.Debug("stale ftp session replaced", "session", seq, "err", err)
	}
}

// Ready reports whether the pool can serve, for a readiness probe: nil when
// a session can be had within ctx (an idle one, proved alive with NOOP as
// Acquire does, or one dialled and logged in), or when every session the
// pool may have is in use and the server is known to be there: no dial has
// failed nor session been ended by the server since the last login, and
// the server greets a connection now, with 220 or with a refusal for
// having too many (Greet: no login, so no session beyond the maximum). So
// a pool busy serving is ready, and one whose server has gone is not,
// without waiting for a busy session. (One that took the last free
// session as Ready began waits for ctx, and then the last word alone
// decides.) The error says what failed: a *ConnectError, or Acquire's.
func (p *Pool) Ready(ctx context.Context) error {
	waited := false
	if !p.budget.full() {
		s, err := p.Acquire(ctx)
		if err == nil {
			s.Release()
			return nil
		}
		// Every slot was taken while it waited: the pool is busy.
		if ctx.Err() == nil || !p.budget.full() {
			return err
		}
		waited = true
	}
	if err := p.down.Load(); err != nil {
		return *err
	}
	if waited {
		return nil
	}
	if err := ftpcore.Greet(ctx, p.cfg.Conn); err != nil && !IsRefusal(err) {
		return &ConnectError{Backend: p.cfg.Name, Err: err}
	}
	return nil
}

// errHealthCheck is the cause of a session that failed its NOOP as Ready
// reports it.
var errHealthCheck = errors.New("a session failed its health check")

// Do is Begin for operations that end within fn: the session is released
// when fn returns.
func (p *Pool) Do(ctx context.Context, fn func(*ftpcore.Conn) error) error {
	s, err := p.Begin(ctx, fn)
	if err != nil {
		return err
	}
	s.Release()
	return nil
}

// destroy is the one way the pool gives up an acquired session: it counts
// the session under why (a destroyed* counter), marks the sessions opened
// before it suspect when the server is what ended it (markSuspect), closes
// it, and wakes maintain to top the pool up to MinSessions. Only Close ends
// sessions otherwise.
//
// The session counts against MaxSessions until its QUIT has been answered
// (or HealthCheckTimeout has passed), so the server never sees more than
// MaxSessions connections of ours; then it leaves puddle's count at once
// (Hijack) and the refill woken after it finds the room. puddle's own
// Destroy would leave it counted for a moment after the destructor, with
// no signal when it goes: a refill woken then would dial nothing and leave
// the pool short until the next HealthCheckPeriod. With slot, the
// session's budget slot is given back then too, not before: a waiter let
// in sooner would dial while the server still counts the session.
func (p *Pool) destroy(res *puddle.Resource[*session], why *atomic.Int64, slot bool) {
	why.Add(1)
	// The server ended the session: it failed its health check (a NOOP
	// unanswered counts, as a server gone silent leaves every session so),
	// or its control connection was lost (closed, reset, 421). A command
	// timeout or a call the caller cancelled says nothing about the others.
	if sess := res.Value(); why == &p.destroyedHealthCheck || ftpcore.IsConnLost(sess.conn.Err()) {
		p.markSuspect(sess.seq)
		lost := error(&ConnectError{Backend: p.cfg.Name, Err: cmp.Or(sess.conn.Err(), errHealthCheck)})
		p.down.Store(&lost)
	}
	p.closing.Add(1)
	go func() {
		defer p.closing.Done()
		p.destruct(res.Value())
		res.Hijack()
		if slot {
			p.budget.leave()
		}
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}()
}

// markSuspect records that the session seq was found dead by the server's
// doing. The server may have taken every session opened no later than it
// along (a restart, a dropped network path), so Acquire proves each of
// those that is handed out afterwards with NOOP, once, whatever its idle
// time. Later sessions are not suspected: one opened after the event is
// sound, and one opened before it is found as this one was, on its first
// command, which Begin retries.
func (p *Pool) markSuspect(seq uint64) {
	for {
		cur := p.suspect.Load()
		if seq <= cur || p.suspect.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// maintain runs until Close: it keeps MinSessions open, topping the pool
// up whenever destroy says a session went, and every HealthCheckPeriod it
// closes the idle sessions that have expired.
func (p *Pool) maintain() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.HealthCheckPeriod)
	defer t.Stop()
	p.fill()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.closeExpired()
			p.fill()
		case <-p.wake:
			p.fill()
		}
	}
}

// fill dials sessions until MinSessions are open. A failure waits for the
// next round: the backend may be down, and requests will say so.
func (p *Pool) fill() {
	for {
		if limit, _ := p.budget.stat(); p.p.Stat().TotalResources() >= min(p.cfg.MinSessions, limit) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.AcquireTimeout)
		go func() { // Close must not wait for a dial that hangs
			select {
			case <-p.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		err := p.p.CreateResource(ctx)
		cancel()
		if err != nil {
			if !errors.Is(err, puddle.ErrClosedPool) && !errors.Is(err, puddle.ErrNotAvailable) {
				p.log.Warn("keeping the pool's minimum sessions", "err", err)
			}
			return
		}
	}
}

// closeExpired destroys the idle sessions past their lifetime, and those
// idle longer than MaxIdleTime beyond MinSessions. Acquire only looks at
// the session it takes, so without this a quiet pool would keep its
// sessions open on the server until the server's own idle timeout ends
// them with a 421, and a retired one would wait for the next request.
func (p *Pool) closeExpired() {
	now := time.Now()
	for _, res := range p.p.AcquireAllIdle() {
		switch {
		case now.After(res.Value().expires):
			p.destroy(res, &p.destroyedLifetime, false)
		case res.IdleDuration() > p.cfg.MaxIdleTime && p.p.Stat().TotalResources() > p.cfg.MinSessions:
			p.destroy(res, &p.destroyedIdle, false)
		default:
			res.ReleaseUnused()
		}
	}
}

// Close closes every session, waiting for acquired ones to be released,
// and makes later Acquire calls fail with ErrClosed.
func (p *Pool) Close() {
	p.once.Do(func() {
		close(p.stop)
		p.wg.Wait()
		p.p.Close()
		// Once puddle holds no idle session, wait for the QUITs of those
		// destroy is closing.
		p.closing.Wait()
	})
}
