package pool

import (
	"time"

	"github.com/jackc/puddle/v2"
)

// Stat is a snapshot of a Pool's state and counters.
type Stat struct {
	s *puddle.Stat

	// Dials counts sessions dialled, successful or not; DialErrors the
	// failures among them.
	Dials, DialErrors int64
	// StaleRetries counts the retries of operations on another session
	// because the one they ran on was stale; after a restart, one
	// operation may retry more than once (Pool.Begin).
	StaleRetries int64
	// HealthCheckFailures counts sessions that failed the NOOP on acquire,
	// whether idle too long or suspect after another's death.
	HealthCheckFailures int64
	// DestroyedBroken, DestroyedLifetime, DestroyedIdle and
	// DestroyedHealthCheck count sessions destroyed because their state
	// was unknown, their lifetime was over, they sat idle too long, or
	// they failed the NOOP on acquire. Every health check failure destroys
	// its session, so DestroyedHealthCheck equals HealthCheckFailures.
	DestroyedBroken, DestroyedLifetime, DestroyedIdle, DestroyedHealthCheck int64
	// MaxSessionsEffective is the most sessions the pool lets be in use
	// or dialled at once now: MaxSessions, lowered when the server
	// refuses a connection for having too many and raised again one at a
	// time after each BudgetQuietPeriod without a refusal.
	MaxSessionsEffective int32
	// ConnectRefusals counts the dials or logins the server refused for
	// having too many connections (421; proftpd's 530 greeting).
	ConnectRefusals int64
}

// Stat returns a snapshot of the pool's statistics.
func (p *Pool) Stat() *Stat {
	limit, refusals := p.budget.stat()
	return &Stat{
		MaxSessionsEffective: limit,
		ConnectRefusals:      refusals,
		s:                    p.p.Stat(),
		Dials:                p.dials.Load(),
		DialErrors:           p.dialErrors.Load(),
		StaleRetries:         p.staleRetries.Load(),
		HealthCheckFailures:  p.destroyedHealthCheck.Load(),
		DestroyedBroken:      p.destroyedBroken.Load(),
		DestroyedLifetime:    p.destroyedLifetime.Load(),
		DestroyedIdle:        p.destroyedIdle.Load(),
		DestroyedHealthCheck: p.destroyedHealthCheck.Load(),
	}
}

// AcquiredSessions is the number of sessions in use.
func (s *Stat) AcquiredSessions() int32 { return s.s.AcquiredResources() }

// IdleSessions is the number of sessions waiting in the pool.
func (s *Stat) IdleSessions() int32 { return s.s.IdleResources() }

// ConstructingSessions is the number of sessions being dialled.
func (s *Stat) ConstructingSessions() int32 { return s.s.ConstructingResources() }

// TotalSessions is acquired + idle + constructing.
func (s *Stat) TotalSessions() int32 { return s.s.TotalResources() }

// MaxSessions is the configured maximum.
func (s *Stat) MaxSessions() int32 { return s.s.MaxResources() }

// AcquireCount is the number of successful acquires from the pool.
func (s *Stat) AcquireCount() int64 { return s.s.AcquireCount() }

// AcquireDuration is the total time spent in successful acquires.
func (s *Stat) AcquireDuration() time.Duration { return s.s.AcquireDuration() }

// EmptyAcquireCount is the number of acquires that had to wait for a
// session because none was idle.
func (s *Stat) EmptyAcquireCount() int64 { return s.s.EmptyAcquireCount() }

// CanceledAcquireCount is the number of acquires given up by their context.
func (s *Stat) CanceledAcquireCount() int64 { return s.s.CanceledAcquireCount() }

// sessionCounts are the idle, acquired and constructing sessions.
func (s *Stat) sessionCounts() [3]int32 {
	return [3]int32{s.IdleSessions(), s.AcquiredSessions(), s.ConstructingSessions()}
}
