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
	lastStat fileStamp
}

// fileStamp is what says a file may have changed without reading it.
type fileStamp struct {
	mod  time.Time
	size int64
}

// Static is a Tokens of the tokens ts only, never reloaded.
func Static(ts ...Token) *Tokens {
	t := &Tokens{}
	t.cur.Store(NewSet(ts...))
	return t
}

// Load reads the tokens file name and returns its tokens with extra; an
// unreadable or malformed file is an error. With interval positive it then
// looks at the file every interval and, when its modification time or size
// changed, reads it again: a file that reads and parses replaces the
// tokens (extra kept), one that does not leaves them as they were and is
// logged at Error on log (the reason and the line number, never the line).
func Load(name string, extra []Token, interval time.Duration, log *slog.Logger) (*Tokens, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Tokens{name: name, extra: extra, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	stamp, data, set, err := t.read()
	if err != nil {
		return nil, err
	}
	t.lastStat, t.lastData = stamp, data
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

func (t *Tokens) read() (fileStamp, []byte, *Set, error) {
	fi, err := os.Stat(t.name)
	if err != nil {
		return fileStamp{}, nil, nil, fmt.Errorf("tokens file: %w", err)
	}
	data, err := os.ReadFile(t.name)
	if err != nil {
		return fileStamp{}, nil, nil, fmt.Errorf("tokens file: %w", err)
	}
	set, err := ParseFile(bytes.NewReader(data))
	if err != nil {
		return fileStamp{}, nil, nil, fmt.Errorf("tokens file %s: %w", t.name, err)
	}
	return fileStamp{fi.ModTime(), fi.Size()}, data, set.with(t.extra), nil
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

// reload reads the file again if its stamp changed, and swaps the tokens
// if it holds other ones that parse.
func (t *Tokens) reload() {
	fi, err := os.Stat(t.name)
	if err == nil && (fileStamp{fi.ModTime(), fi.Size()}) == t.lastStat {
		return
	}
	stamp, data, set, err := t.read()
	if err != nil {
		if stamp != t.lastStat {
			t.log.Error("tokens file not reloaded; the tokens loaded before stay in use", "err", err.Error())
		}
		// Not again for the same state of the file; a stat that fails
		// keeps the zero stamp, and is logged once.
		t.lastStat = stamp
		if fi != nil {
			t.lastStat = fileStamp{fi.ModTime(), fi.Size()}
		}
		return
	}
	t.lastStat = stamp
	if bytes.Equal(data, t.lastData) {
		return
	}
	t.lastData = data
	t.cur.Store(set)
	t.log.Info("tokens file reloaded", "file", t.name, "tokens", set.Len())
}
