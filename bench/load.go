package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
)

const (
	rangeLen = 64 << 10 // bytes per ranged request
	// maxPerClient bounds each client of a load by count, whatever the
	// duration.
	maxPerClient = 1_000_000
	// requestTimeout bounds one request of a load.
	requestTimeout = 10 * time.Second
	// maxErrors ends a load early: something is broken, not slow.
	maxErrors = 100
)

// loadResult is one run of a concurrent load.
type loadResult struct {
	ok, errs int
	firstErr error
	elapsed  time.Duration
	lat      []time.Duration // of the successful requests, sorted
}

func (r loadResult) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// percentile returns the p-th percentile (0 < p <= 100) of the sorted
// latencies, nearest rank.
func (r loadResult) percentile(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat))*p/100+0.999999) - 1
	return r.lat[max(0, min(i, len(r.lat)-1))]
}

// request is one request of a load by client w: it returns how long the
// request took (what is measured) and an error if its answer was wrong.
// Checking the answer may take longer than the latency it returns.
type request func(ctx context.Context, w int, rng *rand.Rand) (time.Duration, error)

// runLoad runs clients concurrent clients, each issuing requests back to
// back until d has passed (or maxPerClient requests, or maxErrors errors in
// all, or ctx ends).
func runLoad(ctx context.Context, clients int, d time.Duration, do request) loadResult {
	var (
		mu    sync.Mutex
		res   loadResult
		nerrs atomic.Int64
		wg    sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(d)
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			lat := make([]time.Duration, 0, 4096)
			var errs int
			var firstErr error
			for n := 0; n < maxPerClient && time.Now().Before(end) && ctx.Err() == nil && nerrs.Load() < maxErrors; n++ {
				rctx, cancel := context.WithTimeout(ctx, requestTimeout)
				l, err := do(rctx, w, rng)
				cancel()
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					errs++
					nerrs.Add(1)
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				lat = append(lat, l)
			}
			mu.Lock()
			res.ok += len(lat)
			res.errs += errs
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
			res.lat = append(res.lat, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.lat)
	return res
}

// httpClient returns a client keeping one connection per concurrent client
// alive to the gateway.
func httpClient(clients int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        clients,
		MaxIdleConnsPerHost: clients,
		MaxConnsPerHost:     clients,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}}
}

// content checks bodies against the local copy of the file served.
type content struct {
	f    *os.File
	size int64
}

func (c content) check(got []byte, off int64, want []byte) error {
	if _, err := c.f.ReadAt(want, off); err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("wrong bytes at offset %d", off)
	}
	return nil
}

// buffers holds one client's buffers, so that the loads do not allocate
// per request.
type buffers struct{ got, want [][]byte }

func newBuffers(clients, size int) buffers {
	b := buffers{got: make([][]byte, clients), want: make([][]byte, clients)}
	for i := range clients {
		b.got[i] = make([]byte, size+1) // +1 catches a body too long
		b.want[i] = make([]byte, size)
	}
	return b
}

// readBody reads exactly n bytes of body and its end.
func readBody(body io.Reader, buf []byte, n int) error {
	if _, err := io.ReadFull(body, buf[:n]); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	if m, err := io.ReadFull(body, buf[n:n+1]); m != 0 || !errors.Is(err, io.EOF) {
		return fmt.Errorf("body longer than %d bytes", n)
	}
	return nil
}

// httpRanges is a GET of a random 64 KiB range of the file at url.
func httpRanges(client *http.Client, url string, file content) request {
	bufs := newBuffers(maxClients, rangeLen)
	return func(ctx context.Context, w int, rng *rand.Rand) (time.Duration, error) {
		off := rng.Int64N(file.size - rangeLen + 1)
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			return 0, err
		}
		want := fmt.Sprintf("bytes %d-%d/%d", off, off+rangeLen-1, file.size)
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+rangeLen-1))
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		err = readBody(resp.Body, bufs.got[w], rangeLen)
		resp.Body.Close()
		l := time.Since(t0)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusPartialContent || resp.ContentLength != rangeLen || resp.Header.Get("Content-Range") != want {
			return 0, fmt.Errorf("range %d: %s, Content-Length %d, Content-Range %q", off, resp.Status, resp.ContentLength, resp.Header.Get("Content-Range"))
		}
		return l, file.check(bufs.got[w][:rangeLen], off, bufs.want[w])
	}
}

// httpWhole is a GET of the whole (small) file at url.
func httpWhole(client *http.Client, url string, file content) request {
	bufs := newBuffers(maxClients, int(file.size))
	return func(ctx context.Context, w int, _ *rand.Rand) (time.Duration, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			return 0, err
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		err = readBody(resp.Body, bufs.got[w], int(file.size))
		resp.Body.Close()
		l := time.Since(t0)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET: %s", resp.Status)
		}
		return l, file.check(bufs.got[w][:file.size], 0, bufs.want[w])
	}
}

// maxClients bounds -clients, for the per-client buffers.
const maxClients = 256

// sessions are logged-in FTP sessions, one per client of a direct load,
// dialled before the load so that it measures warm sessions as the
// gateway's pool has them. A session that a request leaves unusable is
// replaced (counted in redials).
type sessions struct {
	cfg     ftpcore.Config
	conns   []*ftpcore.Conn
	redials atomic.Int64
}

func dialSessions(ctx context.Context, cfg ftpcore.Config, n int) (*sessions, error) {
	s := &sessions{cfg: cfg, conns: make([]*ftpcore.Conn, n)}
	for i := range n {
		c, err := ftpcore.Dial(ctx, cfg)
		if err != nil {
			s.close()
			return nil, err
		}
		s.conns[i] = c
	}
	return s, nil
}

func (s *sessions) close() {
	for _, c := range s.conns {
		if c != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			c.Quit(ctx)
			cancel()
			c.Close()
		}
	}
}

// conn returns client w's session, redialling it if the last request left
// it unusable.
func (s *sessions) conn(ctx context.Context, w int) (*ftpcore.Conn, error) {
	if c := s.conns[w]; c != nil && c.Usable() {
		return c, nil
	}
	if s.conns[w] != nil {
		s.conns[w].Close()
		s.conns[w] = nil
	}
	s.redials.Add(1)
	c, err := ftpcore.Dial(ctx, s.cfg)
	if err != nil {
		return nil, err
	}
	s.conns[w] = c
	return c, nil
}

// retr reads length bytes of path from off on client w's session (REST and
// RETR, the transfer ended early unless length reaches the end), as the
// gateway does for a range.
func (s *sessions) retr(path string, length int, file content, whole bool) request {
	bufs := newBuffers(maxClients, length)
	return func(ctx context.Context, w int, rng *rand.Rand) (time.Duration, error) {
		var off int64
		if !whole {
			off = rng.Int64N(file.size - int64(length) + 1)
		}
		t0 := time.Now()
		c, err := s.conn(ctx, w)
		if err != nil {
			return 0, err
		}
		limit := int64(length)
		if whole {
			limit = -1
		}
		tr, err := c.Retr(ctx, path, off, limit)
		if err != nil {
			return 0, err
		}
		err = readBody(tr, bufs.got[w], length)
		if cerr := tr.Close(); err == nil {
			err = cerr
		}
		l := time.Since(t0)
		if err != nil {
			return 0, err
		}
		return l, file.check(bufs.got[w][:length], off, bufs.want[w])
	}
}
