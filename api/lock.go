package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
)

// A PUT's preconditions are judged twice: before the body is read (so that
// a refused client sends none) and again at the rename, where they decide;
// between the two an upload may take hours, and another PUT may land. The
// second judgement and the rename must be one step as other replicas of the
// gateway see it, and FTP has no such step: RNTO replaces whatever is
// there. So every change of a name through the gateway (a PUT's rename, a
// conditional DELETE) holds a lock: a directory made with MKD, which fails
// when the directory exists, on every server and for every replica. It sits
// beside the target under a reserved name, so listings hide it and requests
// cannot name it. Writers that bypass the gateway are not held by it.
const (
	lockPrefix = tempPrefix + "lock-"
	// lockStale is how long a lock may stay held, as one waiter sees it,
	// before the waiter takes its holder to be gone (a replica stopped
	// between MKD and RMD) and removes it: a holder keeps it for a stat
	// and a rename, a few round trips.
	lockStale = 10 * time.Second
	// lockPollMax caps the wait between two tries of a held lock.
	lockPollMax = 200 * time.Millisecond
	// lockTries is how often MKD must be refused with no lock there
	// before the account is taken to be one that may not make it.
	lockTries = 3
)

// lockPath returns the lock directory of the name full. The name is hashed
// so that the lock's stays short, and folded to lower case so that a server
// that ignores case (and so has one file for both spellings) has one lock
// for both too.
func lockPath(full string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(path.Base(full))))
	return path.Join(path.Dir(full), lockPrefix+hex.EncodeToString(sum[:16]))
}

// lockName takes the lock of full on c, waiting while another holds it, and
// returns the function that releases it. Where the server lets the gateway
// make no directory there (an account without the right), there is nothing
// to lock with: the name is changed unlocked, and a line is logged.
func (s *Server) lockName(ctx context.Context, c *ftpcore.Conn, full string) (unlock func(), err error) {
	lock := lockPath(full)
	heldSince := time.Time{}
	wait := 5 * time.Millisecond
	broken := false
	absent := 0 // MKD refused with no lock there, in a row
	for {
		err := c.Mkdir(ctx, lock)
		if err == nil {
			return func() { s.unlockName(ctx, c, lock) }, nil
		}
		if !lockRefused(err) {
			return nil, err
		}
		// Refused: held by another, or not allowed at all. A lock that is
		// gone when looked at may only just have been released: only MKD
		// refused lockTries times with no lock there means "not allowed".
		if _, serr := c.Stat(ctx, lock); ftpcore.ReplyCode(serr) == ftpcore.StatusFileUnavailable {
			if absent++; absent < lockTries {
				continue
			}
			s.log.Warn("no lock for a rename: the FTP server refused MKD", "backend", s.name, "path", lock, "err", err)
			return func() {}, nil
		} else if serr != nil {
			return nil, serr
		}
		absent = 0
		now := time.Now()
		if heldSince.IsZero() {
			heldSince = now
		}
		if now.Sub(heldSince) >= lockStale {
			if broken {
				return nil, conflict("another change of this name is under way on the FTP server", err)
			}
			// Its holder is gone: take the lock over once.
			s.log.Warn("removing a stale rename lock", "backend", s.name, "path", lock)
			if err := c.Rmdir(ctx, lock); err != nil && ftpcore.ReplyCode(err) != ftpcore.StatusFileUnavailable {
				return nil, err
			}
			broken, heldSince = true, time.Time{}
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, lockPollMax)
	}
}

// lockRefused reports whether MKD's error says the directory could not be
// made (it exists, or the account may not), as opposed to a broken session.
func lockRefused(err error) bool {
	switch ftpcore.ReplyCode(err) {
	case ftpcore.StatusFileUnavailable, ftpcore.StatusBadFileName, 521:
		return true
	}
	return false
}

// unlockName removes the lock directory, even for a request whose client
// has left. A lock that cannot be removed is left to lockStale: its next
// waiter takes it over.
func (s *Server) unlockName(ctx context.Context, c *ftpcore.Conn, lock string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if !c.Usable() {
		s.log.Warn("rename lock left behind", "backend", s.name, "path", lock, "err", c.Err())
		return
	}
	if err := c.Rmdir(ctx, lock); err != nil {
		s.log.Warn("rename lock left behind", "backend", s.name, "path", lock, "err", err)
	}
}
