package api

import (
	"context"
	"errors"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/pool"
	"github.com/prometheus/client_golang/prometheus"
)

// The temporary files uploads leave behind. A failed upload's file is
// deleted at once (removeTemp); when that fails too, because the FTP server
// went down with the upload, the file joins a queue that a goroutine of
// the Server retries, with backoff, until the server answers again. Files
// left by uploads that nobody is left to clean up (a gateway that crashed,
// a queue that overflowed) are found by their age: an upload in progress
// writes to its file all the time, so one unwritten for TempMaxAge belongs
// to an upload that died, whichever gateway ran it. Listings served, and a
// periodic sweep of the root and of the directories uploaded to, queue
// those for deletion.
const (
	// tempQueueSize bounds the queue; past it the oldest are dropped.
	tempQueueSize = 1024
	// tempSweepDirs bounds the directories the sweep remembers; past it
	// the one uploaded to least recently is forgotten.
	tempSweepDirs = 256
	// The retry delay starts at retryFirst and doubles up to retryMax.
	retryFirst = time.Second
	retryMax   = time.Minute
	// removeBatch is the most deletions one session is held for.
	removeBatch = 32
)

// isUploadTemp reports whether name is exactly of a form the gateway
// writes files under: tempPrefix, then 16 lowercase hex digits and ".tmp"
// (a PUT's, tempName), or 32 and ".part" or ".lock" (a resumable upload's,
// resumable.go). Only such files are deleted for their age: a resumable
// upload left alone that long has expired. isTempName's other names
// (another case, a directory such as a lock) may be the gateway's, but
// are not files it wrote and abandoned.
func isUploadTemp(name string) bool {
	rest, ok := strings.CutPrefix(name, tempPrefix)
	if !ok {
		return false
	}
	hexPart, suffix, _ := strings.Cut(rest, ".")
	switch {
	case len(hexPart) == 16 && suffix == "tmp":
	case len(hexPart) == 2*resumableNonceLen && (suffix == partSuffix[1:] || suffix == lockSuffix[1:]):
	default:
		return false
	}
	return allLowerHex(hexPart)
}

// leftover is a temporary file waiting to be deleted. path, pool and
// orphan do not change; next and delay belong to tempCleaner.mu.
type leftover struct {
	path string
	// pool is the pool it is deleted with: the backend's, or in Basic
	// passthrough the pool of the user whose upload or listing found it,
	// as another user may not see the file, or not by that path. If that
	// pool is closed before the file is deleted (the user went idle), the
	// file is dropped from the queue and left for its age to find it in
	// a listing of a user with a live pool (removeDue).
	pool *pool.Pool
	// orphan marks a file found by its age: its age is checked again
	// (MDTM) right before it is deleted. Otherwise it is the file of an
	// upload of this gateway that failed.
	orphan bool
	next   time.Time     // no attempt before
	delay  time.Duration // the wait after the last failed attempt
}

// leftoverKey is a leftover's identity: the same path is another file to
// another user of Basic passthrough.
type leftoverKey struct {
	pool *pool.Pool
	path string
}

func (l *leftover) key() leftoverKey { return leftoverKey{l.pool, l.path} }

// how is the label of ftpgw_upload_temp_removed_total for l.
func (l *leftover) how() string {
	if l.orphan {
		return "sweep"
	}
	return "retry"
}

// tempCleaner deletes leftovers in a goroutine of its own, from start to
// close. Its methods are safe for concurrent use and never block on the
// FTP server.
type tempCleaner struct {
	s        *Server
	backend  string
	maxAge   time.Duration // <= 0: nothing is deleted for its age
	interval time.Duration // <= 0: no periodic sweep

	mu     sync.Mutex
	limit  int
	queue  []*leftover // oldest first
	byPath map[leftoverKey]*leftover
	dirs   map[string]time.Time // for the sweep, and when last added

	wake      chan struct{}
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	pending prometheus.Gauge
	dropped prometheus.Counter
}

func newTempCleaner(s *Server) *tempCleaner {
	name := s.name
	c := &tempCleaner{
		s:        s,
		backend:  name,
		maxAge:   s.cfg.TempMaxAge,
		interval: s.cfg.TempSweepInterval,
		limit:    tempQueueSize,
		byPath:   make(map[leftoverKey]*leftover),
		dirs:     make(map[string]time.Time),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		pending:  s.metrics.tempPending.WithLabelValues(name),
		dropped:  s.metrics.tempDropped.WithLabelValues(name),
	}
	if c.maxAge <= 0 || s.cfg.Pool == nil {
		// Without a pool of the backend's own (Basic passthrough) there
		// is no session to sweep with: orphans are found only in the
		// listings users are served.
		c.interval = 0
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.run(ctx)
	return c
}

// close stops the goroutine and waits for it. Leftovers still queued stay
// on the FTP server, for a sweep to find once they are old.
func (c *tempCleaner) close() {
	c.closeOnce.Do(func() {
		c.cancel()
		<-c.done
		c.mu.Lock()
		n := len(c.queue)
		c.mu.Unlock()
		if n > 0 {
			c.s.log.Warn("temporary upload files left behind at close", "backend", c.backend, "files", n)
		}
	})
}

// retry queues the file of a failed upload whose deletion failed, to be
// deleted with the pool p.
func (c *tempCleaner) retry(p *pool.Pool, name string) {
	c.add([]*leftover{{path: name, pool: p, next: time.Now().Add(retryFirst), delay: retryFirst}})
}

// listed takes note of a listing served with the pool p, of the directory
// dir: it queues the orphans among the entries, and sends nothing to the
// FTP server.
// Unless shown says the listing shows names starting with a dot (MLSD
// does, vsftpd's LIST does not), the directory is swept later instead.
func (c *tempCleaner) listed(p *pool.Pool, dir string, entries []ftpcore.Entry, shown bool) {
	if c.maxAge <= 0 {
		return
	}
	c.queueOrphans(p, dir, entries)
	if !shown {
		c.sweepLater(dir)
	}
}

// queueOrphans queues the temporary files among the entries of dir that
// were last written more than maxAge ago, to be deleted with p.
func (c *tempCleaner) queueOrphans(p *pool.Pool, dir string, entries []ftpcore.Entry) {
	now := time.Now()
	var found []ftpcore.Entry
	for _, e := range entries {
		if isUploadTemp(e.Name) && e.Type == ftpcore.EntryFile && !e.ModTime.IsZero() && now.Sub(e.ModTime) > c.maxAge {
			found = append(found, e)
		}
	}
	if len(found) == 0 {
		return
	}
	// Oldest first, so that a queue that overflows drops those.
	slices.SortFunc(found, func(a, b ftpcore.Entry) int { return a.ModTime.Compare(b.ModTime) })
	ls := make([]*leftover, len(found))
	for i, e := range found {
		ls[i] = &leftover{path: path.Join(dir, e.Name), pool: p, orphan: true, next: now}
	}
	c.add(ls)
}

// sweepLater adds dir to the directories the periodic sweep lists,
// forgetting the one added or used least recently beyond tempSweepDirs.
func (c *tempCleaner) sweepLater(dir string) {
	if c.interval <= 0 {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.dirs[dir]; !ok && len(c.dirs) >= tempSweepDirs {
		var oldest string
		for d, t := range c.dirs {
			if oldest == "" || t.Before(c.dirs[oldest]) {
				oldest = d
			}
		}
		delete(c.dirs, oldest)
	}
	c.dirs[dir] = now
}

// add queues ls, skipping paths already queued, and drops the oldest
// leftovers beyond the limit, with one log line.
func (c *tempCleaner) add(ls []*leftover) {
	c.mu.Lock()
	for _, l := range ls {
		if c.byPath[l.key()] == nil {
			c.byPath[l.key()] = l
			c.queue = append(c.queue, l)
		}
	}
	var dropped []*leftover
	if over := len(c.queue) - c.limit; over > 0 {
		dropped = slices.Clone(c.queue[:over])
		c.queue = slices.Delete(c.queue, 0, over)
		for _, l := range dropped {
			delete(c.byPath, l.key())
		}
	}
	c.pending.Set(float64(len(c.queue)))
	c.mu.Unlock()
	if len(dropped) > 0 {
		c.dropped.Add(float64(len(dropped)))
		c.s.log.Warn("temporary upload files dropped from the full removal queue, left on the FTP server",
			"backend", c.backend, "dropped", len(dropped), "path", dropped[0].path)
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// forgetDir drops dir from the sweep's directories.
func (c *tempCleaner) forgetDir(dir string) {
	c.mu.Lock()
	delete(c.dirs, dir)
	c.mu.Unlock()
}

func (c *tempCleaner) run(ctx context.Context) {
	defer close(c.done)
	var sweepAt time.Time
	if c.interval > 0 {
		sweepAt = time.Now().Add(c.interval)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		c.removeDue(ctx)
		if !sweepAt.IsZero() && !time.Now().Before(sweepAt) {
			c.sweep(ctx)
			sweepAt = time.Now().Add(c.interval)
			continue
		}
		var tick <-chan time.Time
		if next := c.nextAttempt(sweepAt); !next.IsZero() {
			timer.Reset(time.Until(next))
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-tick:
		}
	}
}

// nextAttempt is the earliest of sweepAt and the leftovers' next attempts;
// zero if there is none.
func (c *tempCleaner) nextAttempt(sweepAt time.Time) time.Time {
	next := sweepAt
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.queue {
		if next.IsZero() || l.next.Before(next) {
			next = l.next
		}
	}
	return next
}

// due returns up to removeBatch leftovers whose time has come, oldest
// first, all of the oldest one's pool.
func (c *tempCleaner) due(now time.Time) []*leftover {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ls []*leftover
	for _, l := range c.queue {
		if !l.next.After(now) && (ls == nil || l.pool == ls[0].pool) {
			ls = append(ls, l)
			if len(ls) == removeBatch {
				break
			}
		}
	}
	return ls
}

// outcome is what an attempt at a leftover came to.
type outcome struct {
	kind outcomeKind
	err  error // the reply, for refused
}

type outcomeKind int

const (
	retryLater outcomeKind = iota // the zero value: not attempted, or failed for now
	removed
	gone    // 550: deleted already, or never written
	young   // an orphan written since it was listed
	refused // a permanent reply other than 550: retrying would not help
)

// removeDue attempts the leftovers whose time has come, a batch a session,
// until none is due or the FTP server fails.
func (c *tempCleaner) removeDue(ctx context.Context) {
	for ctx.Err() == nil {
		batch := c.due(time.Now())
		if len(batch) == 0 {
			return
		}
		outcomes := make([]outcome, len(batch))
		dctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
		p := batch[0].pool
		err := p.Do(dctx, func(conn *ftpcore.Conn) error {
			clear(outcomes) // a session found stale runs this again
			for i, l := range batch {
				o, err := c.remove(dctx, conn, l)
				if err != nil {
					return err
				}
				outcomes[i] = o
			}
			return nil
		})
		cancel()
		if errors.Is(err, pool.ErrClosed) && p != c.s.cfg.Pool {
			c.dropPool(p)
			continue
		}
		c.settle(batch, outcomes, err)
		if err != nil {
			return
		}
	}
}

// dropPool drops the leftovers of p, a user's pool that was closed: no
// session can be had for them. They stay on the FTP server until a
// listing served to a user with a live pool finds them TempMaxAge old.
func (c *tempCleaner) dropPool(p *pool.Pool) {
	c.mu.Lock()
	var n int
	c.queue = slices.DeleteFunc(c.queue, func(l *leftover) bool {
		if l.pool != p {
			return false
		}
		delete(c.byPath, l.key())
		n++
		return true
	})
	c.pending.Set(float64(len(c.queue)))
	c.mu.Unlock()
	c.s.log.Info("temporary upload files left for a later listing to find: the pool of the user who left them is closed",
		"backend", c.backend, "files", n)
}

// remove deletes l on conn. An error means the session or the server
// failed, not the file: the attempts stop there.
func (c *tempCleaner) remove(ctx context.Context, conn *ftpcore.Conn, l *leftover) (outcome, error) {
	if l.orphan {
		mod, err := conn.ModTime(ctx, l.path)
		if err != nil {
			return fileOutcome(err)
		}
		if time.Since(mod) <= c.maxAge {
			return outcome{kind: young}, nil
		}
	}
	err := conn.Delete(ctx, l.path)
	if err == nil {
		return outcome{kind: removed}, nil
	}
	return fileOutcome(err)
}

// fileOutcome sorts the error of a command on a leftover: a reply about
// the file is its outcome; anything else (a lost connection, a 421, a
// timeout, a malformed reply) is the server's failure.
func fileOutcome(err error) (outcome, error) {
	var fe *ftpcore.Error
	if !errors.As(err, &fe) || ftpcore.IsConnLost(err) {
		return outcome{}, err
	}
	switch {
	case fe.Code == ftpcore.StatusFileUnavailable:
		return outcome{kind: gone}, nil
	case fe.Temporary():
		return outcome{kind: retryLater}, nil
	}
	return outcome{kind: refused, err: err}, nil
}

// settle records the outcomes of an attempt at batch; failed, if not nil,
// is why the attempt stopped, and every leftover due waits longer, so that
// a server that is down is tried once a delay, not once a batch.
func (c *tempCleaner) settle(batch []*leftover, outcomes []outcome, failed error) {
	now := time.Now()
	again := make(map[*leftover]bool)
	c.mu.Lock()
	for i, l := range batch {
		if c.byPath[l.key()] != l {
			continue // dropped meanwhile
		}
		if outcomes[i].kind == retryLater {
			again[l] = true
			continue
		}
		delete(c.byPath, l.key())
		c.queue = slices.DeleteFunc(c.queue, func(q *leftover) bool { return q == l })
	}
	var retryIn time.Duration
	for _, l := range c.queue {
		if again[l] || failed != nil && !l.next.After(now) {
			l.delay = min(max(2*l.delay, retryFirst), retryMax)
			l.next = now.Add(l.delay)
			retryIn = max(retryIn, l.delay)
		}
	}
	c.pending.Set(float64(len(c.queue)))
	c.mu.Unlock()

	for i, l := range batch {
		switch o := outcomes[i]; o.kind {
		case removed:
			c.s.metrics.tempRemoved.WithLabelValues(c.backend, l.how()).Inc()
			c.s.log.Info("temporary upload file removed", "backend", c.backend, "path", l.path, "how", l.how())
		case refused:
			// An orphan is found again by the next listing of its
			// directory, and refused again: Warn only for this
			// gateway's own upload.
			level := slog.LevelWarn
			if l.orphan {
				level = slog.LevelInfo
			}
			c.s.log.Log(context.Background(), level, "temporary upload file left behind: the FTP server refused to delete it",
				"backend", c.backend, "path", l.path, "err", o.err)
		}
	}
	if failed != nil {
		c.s.log.Debug("temporary upload files: the FTP server failed, retrying later",
			"backend", c.backend, "retry_in", retryIn.String(), "err", failed)
	}
}

// sweep lists the root and the directories of sweepLater, and queues the
// orphans in them. It gives up at the first failure that is not about a
// directory.
func (c *tempCleaner) sweep(ctx context.Context) {
	c.mu.Lock()
	dirs := make([]string, 0, len(c.dirs)+1)
	for d := range c.dirs {
		dirs = append(dirs, d)
	}
	c.mu.Unlock()
	slices.Sort(dirs)
	dirs = slices.Insert(dirs, 0, "") // the root, named on a session
	for _, dir := range dirs {
		if ctx.Err() != nil {
			return
		}
		lctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
		err := c.s.cfg.Pool.Do(lctx, func(conn *ftpcore.Conn) error {
			root := c.s.ftpPath(conn, "/")
			d := dir
			if d == "" {
				d = root
			} else if d == root {
				return nil
			}
			entries, err := conn.ListAll(lctx, d)
			if err == nil {
				c.queueOrphans(c.s.cfg.Pool, d, entries)
			}
			return err
		})
		cancel()
		var fe *ftpcore.Error
		switch {
		case err == nil:
		case ftpcore.ReplyCode(err) == ftpcore.StatusFileUnavailable && dir != "":
			c.forgetDir(dir)
		case errors.As(err, &fe) && !ftpcore.IsConnLost(err):
			c.s.log.Debug("temporary upload files: sweep could not list a directory", "backend", c.backend, "dir", dir, "err", err) // "" is the root
		default:
			c.s.log.Debug("temporary upload files: sweep stopped, the FTP server failed", "backend", c.backend, "err", err)
			return
		}
	}
}
