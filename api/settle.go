package api

import (
	"sync"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/httpsem"
)

// A modification time tells one version of a file from the next only once
// the FTP server's clock has left the second it names: until then another
// write (or the gateway's own rename of a file written then) may keep the
// same date, with the same size. So a file is "settled", and gets a strong
// ETag, only once the server's clock is known to be past its modification
// second by settleMargin; before that it has no ETag and its date matches
// nothing (httpsem.Validators.Unsettled).
//
// The server's clock is not the gateway's. serverClock keeps a lower bound
// of it, learnt from files the gateway itself wrote: a file's modification
// time, read back after the write, is no later than the server's clock at
// the moment the reply arrived. Each PUT gives one such sample. Without any
// (no PUT yet, or a read-only account) the bound is the gateway's clock
// less Config.MaxClockSkew. The gateway does not write to measure: a read
// that stores a file would surprise whoever audits the FTP server.
const (
	// settleMargin covers a date truncated to the second (MDTM, MLST) and
	// file systems that keep two-second times (FAT).
	settleMargin = 2 * time.Second
	// clockStepBack is how far a new sample may fall below the bound
	// before the bound is taken to be wrong (the server's clock was set
	// back) and replaced by the sample.
	clockStepBack = 2 * time.Second
)

// serverClock is a lower bound of an FTP server's clock, safe for
// concurrent use.
type serverClock struct {
	maxSkew time.Duration

	mu sync.Mutex
	// The server's clock read at least base when the gateway's clock read
	// at; at carries Go's monotonic reading, so that a step of the
	// gateway's wall clock cannot move the bound.
	base, at time.Time
}

// now returns the lower bound of the server's clock at the moment, and
// whether it was measured (false: the gateway's clock less maxSkew).
func (c *serverClock) now() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		return time.Now().Add(-c.maxSkew), false
	}
	return c.base.Add(time.Since(c.at)), true
}

// observe records that the server wrote a file with modification time mod
// before seen, a reading of the gateway's clock (with its monotonic part).
func (c *serverClock) observe(mod, seen time.Time) {
	if mod.IsZero() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() {
		bound := c.base.Add(seen.Sub(c.at))
		if !mod.After(bound) && !mod.Before(bound.Add(-clockStepBack)) {
			return // no better than what is known, and not a step back
		}
	}
	c.base, c.at = mod, seen
}

// settled reports whether a file modified at mod can no longer be written
// again within the same second, as far as the server's clock is known.
func (c *serverClock) settled(mod time.Time) bool {
	if mod.IsZero() {
		return false
	}
	now, _ := c.now()
	return !now.Before(mod.Truncate(time.Second).Add(settleMargin))
}

// validatorsOf is what the conditional headers are judged against for the
// entry e. A directory has no ETag: its size says nothing about
// its content. A file that has not settled has none either (see above).
func (s *Server) validatorsOf(e ftpcore.Entry) httpsem.Validators {
	v := httpsem.Validators{Exists: true, ModTime: e.ModTime}
	if e.Type == ftpcore.EntryDir || e.ModTime.IsZero() {
		return v
	}
	if s.clock.settled(e.ModTime) {
		v.ETag = httpsem.ETag(e.Size, e.ModTime, e.Unique)
	} else {
		v.Unsettled = true
	}
	return v
}
