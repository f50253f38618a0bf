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

// DefaultReloadInterval is how often a tokens file (or a signing keys
// file) is looked at for a change: a token taken out of it stops working
// within this long.
const DefaultReloadInterval = 5 * time.Second

// Tokens is the set of tokens a gateway accepts: those of a tokens file,
// reloaded when the file changes, and fixed ones (the one of FTPGW_TOKEN).
// Safe for concurrent use; Close stops the reloading.
type Tokens struct {
	f watched[Set]
}

// Static is a Tokens of the tokens ts only, never reloaded.
func Static(ts ...Token) *Tokens {
	t := &Tokens{}
	t.f.cur.Store(NewSet(ts...))
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
	t := &Tokens{f: watched[Set]{
		what: "tokens file", items: "tokens",
		parse: func(data []byte) (*Set, error) {
			set, err := ParseFile(bytes.NewReader(data))
			if err != nil {
				return nil, err
			}
			return set.with(extra), nil
		},
		describe: func(s *Set) slog.Attr { return slog.Int("tokens", s.Len()) },
	}}
	if err := t.f.load(name, interval, log); err != nil {
		return nil, err
	}
	return t, nil
}

// Lookup returns the token whose hash is secret's, as Set.Lookup.
func (t *Tokens) Lookup(secret string) (Token, bool) { return t.f.cur.Load().Lookup(secret) }

// Len is the number of tokens accepted now.
func (t *Tokens) Len() int { return t.f.cur.Load().Len() }

// Close stops the reloading and waits for it. Lookup still works after it,
// with the last tokens loaded. Close may be called more than once, and on
// a nil *Tokens.
func (t *Tokens) Close() {
	if t != nil {
		t.f.close()
	}
}

// watched is the content of a file, parsed, and read again when the file
// changes: the one way the tokens file and the signing keys file are
// reloaded. Its fields but cur are set before load and not changed after.
type watched[T any] struct {
	cur atomic.Pointer[T]
	// what names the file in errors and logs ("tokens file"), items its
	// content ("tokens").
	what, items string
	// parse reads the file's bytes; its error names a line, never a line's
	// content.
	parse func([]byte) (*T, error)
	// describe is what the log line of a reload says of the new content:
	// never a secret.
	describe func(*T) slog.Attr

	name string
	log  *slog.Logger
	stop chan struct{}
	done chan struct{}
	once sync.Once

	// Read and written by the reloading goroutine only, after load.
	lastData []byte
	lastInfo os.FileInfo // nil while the file cannot be stat'ed
}

// load reads the file name, and with interval positive starts looking at
// it every interval, as Load says.
func (w *watched[T]) load(name string, interval time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w.name, w.log, w.stop, w.done = name, log, make(chan struct{}), make(chan struct{})
	fi, err := os.Stat(name)
	if err != nil {
		return fmt.Errorf("%s: %w", w.what, err)
	}
	data, v, err := w.read()
	if err != nil {
		return err
	}
	w.lastInfo, w.lastData = fi, data
	w.cur.Store(v)
	if interval <= 0 {
		close(w.done)
		return nil
	}
	go w.watch(interval)
	return nil
}

// close stops the reloading and waits for it; a watched never loaded has
// nothing to stop.
func (w *watched[T]) close() {
	if w.stop == nil {
		return
	}
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// read reads and parses the file.
func (w *watched[T]) read() ([]byte, *T, error) {
	data, err := os.ReadFile(w.name)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", w.what, err)
	}
	v, err := w.parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", w.what, w.name, err)
	}
	return data, v, nil
}

// unchanged reports whether a and b describe the file in one state: the
// same file (a file renamed over it, as a mounted secret is updated, is
// another even with the same size and time), modification time and size.
func unchanged(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// watch reloads the file every interval until close.
func (w *watched[T]) watch(interval time.Duration) {
	defer close(w.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			w.reload()
		case <-w.stop:
			return
		}
	}
}

// reload reads the file again if it changed since the last look, and
// swaps the content if the file holds another that parses. A failure is
// logged once for each state of the file (a file gone, once while it is
// gone).
func (w *watched[T]) reload() {
	fi, statErr := os.Stat(w.name)
	if unchanged(fi, w.lastInfo) {
		return
	}
	wasGone := w.lastInfo == nil
	w.lastInfo = nil
	if statErr == nil {
		w.lastInfo = fi
	}
	data, v, err := w.read()
	if err != nil {
		if statErr == nil || !wasGone {
			w.log.Error(w.what+" not reloaded; the "+w.items+" loaded before stay in use", "err", err.Error())
		}
		return
	}
	if bytes.Equal(data, w.lastData) {
		return
	}
	w.lastData = data
	w.cur.Store(v)
	w.log.Info(w.what+" reloaded", slog.String("file", w.name), w.describe(v))
}
