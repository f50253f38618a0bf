// Package delayproxy is a TCP proxy on loopback that puts a network
// between its two sides: every byte it forwards arrives Delay later, in
// each direction (a round trip grows by twice Delay), and at most Rate
// bytes per second pass each way when Rate is set. It stands in for the
// kernel's netem, which these machines do not have, in the benchmark's
// latency mode (issue 13): one Proxy for an FTP server's control port and
// one for each port of its passive range, so that the data connections
// cross the same network as the commands.
//
// Each direction of a connection is a reader, which stamps what it reads
// with the time it read it, and a writer, which writes each piece once
// its time plus Delay has come, in order. What is in flight is bounded
// as a TCP sender's congestion window bounds it on a fresh connection
// (window: ten segments, doubling each round trip, up to inFlight pieces
// of pieceSize bytes): past it the reader stops reading, and TCP's flow
// control holds the sender, as a path would.
//
// A connection's handshake crosses the path too: the proxy accepts at
// once but connects to Target only three delays later, when a real
// server's accept would return (SYN, SYN+ACK, ACK), and holds what the
// client sent until then. So the first byte either side sends arrives
// when it would on a real path: a server that speaks first (an FTP data
// connection of a RETR) is heard two round trips after the client's
// connect, and a client that speaks first is heard one and a half round
// trips after it. (The client's connect returns at once rather than a
// round trip later; what it sends meanwhile waits.) The endpoints' own
// windows are not modelled: their sockets are on loopback, where the
// kernel's buffers fill in no time; the window above stands for both.
package delayproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

const (
	pieceSize = 64 << 10
	// inFlight bounds the pieces one direction holds: 512 of 64 KiB,
	// 32 MiB, more than 1 Gbit/s times 200 ms.
	inFlight = 512
	// rateBurst is the bytes a capped direction may send at once to make
	// up for time lost: each piece waits for its turn in a sleep that
	// overshoots (by up to a millisecond on a busy machine), and what it
	// overshot is taken from the pieces after it, up to this much.
	// Without it a 1 Gbit/s cap passed 55 MB/s.
	rateBurst = 4 * pieceSize
)

// Proxy forwards each connection its listener accepts to Target.
type Proxy struct {
	// Delay is added to every byte, each way.
	Delay time.Duration
	// Rate, if above 0, caps each direction of each connection at Rate
	// bytes per second: over any span, at most Rate times the span plus
	// rateBurst bytes pass.
	Rate int64
	// Target is the address connections are forwarded to.
	Target string

	ln     net.Listener
	closed chan struct{}
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// Listen starts a Proxy on addr (host:port; port 0 for any) forwarding to
// target.
func Listen(addr, target string, delay time.Duration, rate int64) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &Proxy{Delay: delay, Rate: rate, Target: target, ln: ln, closed: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the address the Proxy listens on.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting, cuts every connection and waits for their
// goroutines.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	select {
	case <-p.closed:
	default:
		close(p.closed)
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

// track adds c to the connections Close cuts, or removes it.
func (p *Proxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		select {
		case <-p.closed:
			c.Close() // Close has cut the others already
		default:
		}
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *Proxy) forward(client net.Conn) {
	defer p.wg.Done()
	defer client.Close()
	// Urgent data (the Telnet Synch of an FTP ABOR) is read in line and
	// passed on in order, as bytes: a proxy that dropped it would hand
	// the server a mangled command line.
	if tc, ok := client.(*net.TCPConn); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) {
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_OOBINLINE, 1)
			})
		}
	}
	p.track(client, true)
	defer p.track(client, false)
	// The handshake: connect when the ACK would reach the server.
	if p.Delay > 0 {
		t := time.NewTimer(3 * p.Delay)
		select {
		case <-t.C:
		case <-p.closed:
			t.Stop()
			return
		}
	}
	server, err := net.Dial("tcp", p.Target)
	if err != nil {
		return
	}
	defer server.Close()
	p.track(server, true)
	defer p.track(server, false)
	var dirs sync.WaitGroup
	dirs.Add(2)
	go func() { defer dirs.Done(); p.pipe(server, client) }()
	go func() { defer dirs.Done(); p.pipe(client, server) }()
	dirs.Wait()
}

// piece is what the reader read at a time; nil data is the end.
type piece struct {
	data []byte
	at   time.Time
	err  error
}

// pipe forwards src to dst, delayed and capped, then ends dst's writing
// side as src's ended: a half-close passes through.
func (p *Proxy) pipe(dst, src net.Conn) {
	pieces := make(chan piece, inFlight)
	done := make(chan struct{})
	win := newWindow(p.Delay)
	go func() {
		defer close(pieces)
		for {
			room := win.wait(done)
			if room == 0 {
				return
			}
			buf := make([]byte, min(pieceSize, room))
			n, err := src.Read(buf)
			win.add(n)
			if n > 0 {
				select {
				case pieces <- piece{data: buf[:n], at: time.Now()}:
				case <-done:
					return
				}
			}
			if err != nil {
				select {
				case pieces <- piece{at: time.Now(), err: err}:
				case <-done:
				}
				return
			}
		}
	}()
	defer close(done)
	next := time.Now() // when the rate lets the next byte go
	for pc := range pieces {
		if d := time.Until(pc.at.Add(p.Delay)); d > 0 {
			time.Sleep(d)
		}
		if pc.data == nil {
			if errors.Is(pc.err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
					return
				}
			}
			// A read that failed otherwise: the connection is broken,
			// both ways.
			src.Close()
			dst.Close()
			return
		}
		if p.Rate > 0 {
			// next never falls further behind than rateBurst: an idle
			// connection earns no more than that.
			if earliest := time.Now().Add(-time.Duration(rateBurst * int64(time.Second) / p.Rate)); next.Before(earliest) {
				next = earliest
			}
			next = next.Add(time.Duration(int64(len(pc.data)) * int64(time.Second) / p.Rate))
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
		}
		if _, err := dst.Write(pc.data); err != nil {
			src.Close()
			dst.Close()
			return
		}
		win.add(-len(pc.data))
	}
}

// A window bounds what one direction has in flight as a TCP sender's
// congestion window does on a fresh connection (RFC 6928, RFC 5681): ten
// segments to begin with, twice as much each round trip, up to
// maxWindow. A data connection, new for every FTP transfer, then ramps up
// as it would on a real path, and a transfer cut short after its first
// bytes (a range) has not had megabytes pulled from its server. In flight
// here is what waits out the one-way delay, so it is held at half the
// window: a window's worth per round trip. Without a delay there is no
// window.
type window struct {
	delay time.Duration
	start time.Time
	mu    sync.Mutex
	cond  *sync.Cond
	held  int
}

const (
	initWindow = 10 * 1460
	maxWindow  = inFlight * pieceSize
)

func newWindow(delay time.Duration) *window {
	w := &window{delay: delay, start: time.Now()}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// size is the window now.
func (w *window) size() int {
	if w.delay <= 0 {
		return maxWindow
	}
	rtts := time.Since(w.start) / (2 * w.delay)
	if rtts >= 12 { // 14 KiB << 12 is past maxWindow
		return maxWindow
	}
	return min(initWindow<<rtts, maxWindow)
}

// wait returns how many more bytes may go in flight, waiting (in steps of
// a millisecond, as the window grows with time) while none may; 0 once
// done is closed.
func (w *window) wait(done <-chan struct{}) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		select {
		case <-done:
			return 0
		default:
		}
		if w.delay <= 0 {
			return pieceSize
		}
		if room := w.size()/2 - w.held; room > 0 {
			return room
		}
		// Woken by a write, or by the timer as the window grows.
		t := time.AfterFunc(time.Millisecond, w.cond.Broadcast)
		w.cond.Wait()
		t.Stop()
	}
}

// add counts n bytes into flight (negative: out of it).
func (w *window) add(n int) {
	if n == 0 {
		return
	}
	w.mu.Lock()
	w.held += n
	w.mu.Unlock()
	if n < 0 {
		w.cond.Broadcast()
	}
}
