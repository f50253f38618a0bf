package auth

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultReloadInterval is how often a tokens file is looked at for a
// change: a token taken out of it stops working within this long.
const DefaultReloadInterval = 5 * time.Second

// Tokens is the set of tokens a gateway accepts: those of a tokens file,
// reloaded when the file changes, and fixed ones (the one of FTPGW_TOKEN).
// Safe for concurrent use; Close stops the reloading.
type Tokens struct {
	cur   atomic.Pointer[Set]
	name  string
	extra []Token
	log   *slog.Logger

	stop chan struct{}
	done chan struct{}
	once sync.Once

	// Read and written by the reloading goroutine only, after Load.
	lastData []byte
	lastInfo os.FileInfo // nil while the file cannot be stat'ed
}

// Static is a Tokens of the tokens ts only, never reloaded.
func Static(ts ...Token) *Tokens {
	t := &Tokens{}
	t.cur.Store(NewSet(ts...))
	return t
}

// Load reads the tokens file name and returns its tokens with extra; an
// unreadable or malformed file is an error. With interval positive it then
// looks at the file every interval and, when it was replaced or its
// modification time or size changed, reads it again: a file that reads and
// parses replaces the tokens (extra kept), one that does not leaves them as
// they were and is logged at Error on log (the reason and the line number,
// never the line).
func Load(name string, extra []Token, interval time.Duration, log *slog.Logger) (*Tokens, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Tokens{name: name, extra: extra, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	fi, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	data, set, err := t.read()
	if err != nil {
		return nil, err
	}
	t.lastInfo, t.lastData = fi, data
	t.cur.Store(set)
	if interval <= 0 {
		close(t.done)
		return t, nil
	}
	go t.watch(interval)
	return t, nil
}

// Lookup returns the token whose hash is secret's, as Set.Lookup.
func (t *Tokens) Lookup(secret string) (Token, bool) { return t.cur.Load().Lookup(secret) }

// Len is the number of tokens accepted now.
func (t *Tokens) Len() int { return t.cur.Load().Len() }

// Close stops the reloading and waits for it. Lookup still works after it,
// with the last tokens loaded. Close may be called more than once, and on
// a nil *Tokens.
func (t *Tokens) Close() {
	if t == nil || t.stop == nil {
		return
	}
	t.once.Do(func() { close(t.stop) })
	<-t.done
}

// read reads and parses the file; the set returned has the extra tokens.
func (t *Tokens) read() ([]byte, *Set, error) {
	data, err := os.ReadFile(t.name)
	if err != nil {
		return nil, nil, fmt.Errorf("tokens file: %w", err)
	}
	set, err := ParseFile(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("tokens file %s: %w", t.name, err)
	}
	return data, set.with(t.extra), nil
}

// unchanged reports whether a and b describe the file in one state: the
// same file (a file renamed over it, as a mounted secret is updated, is
// another even with the same size and time), modification time and size.
func unchanged(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// watch reloads the file every interval until Close.
func (t *Tokens) watch(interval time.Duration) {
	defer close(t.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			t.reload()
		case <-t.stop:
			return
		}
	}
}

// reload reads the file again if it changed since the last look, and
// swaps the tokens if it holds other ones that parse. A failure is logged
// once for each state of the file (a file gone, once while it is gone).
func (t *Tokens) reload() {
	fi, statErr := os.Stat(t.name)
	if unchanged(fi, t.lastInfo) {
		return
	}
	wasGone := t.lastInfo == nil
	t.lastInfo = nil
	if statErr == nil {
		t.lastInfo = fi
	}
	data, set, err := t.read()
	if err != nil {
		if statErr == nil || !wasGone {
			t.log.Error("tokens file not reloaded; the tokens loaded before stay in use", "err", err.Error())
		}
		return
	}
	if bytes.Equal(data, t.lastData) {
		return
	}
	t.lastData = data
	t.cur.Store(set)
	t.log.Info("tokens file reloaded", "file", t.name, "tokens", set.Len())
}
