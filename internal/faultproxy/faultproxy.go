// Package faultproxy is a TCP proxy for tests that injects the faults a
// network and a failing peer bring about: a connection closed or reset
// after so many bytes in one direction, a direction that stalls or drips,
// and a listener that refuses connections. It forwards the bytes as they
// are and rewrites nothing; a peer's end of data (FIN) and reset (RST)
// are passed on as such.
//
// A Proxy listens on one address or on a range of ports. The range is for
// protocols that open connections of their own, as FTP's passive data
// connections do: a client that dials the control connection's host at
// the port a server's reply names (as ftpcore does) reaches the proxy
// when the proxy listens on that port of another loopback address
// (127.0.0.0/8 is all loopback on Linux) and forwards it to the same port
// of the server. It is for tests only.
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Direction is the way bytes flow through a proxied connection.
type Direction int

const (
	// ToTarget is what the client that connected to the proxy sends.
	ToTarget Direction = iota
	// ToClient is what the target sends back.
	ToClient
)

func (d Direction) String() string {
	if d == ToClient {
		return "to client"
	}
	return "to target"
}

// Action is what a Fault does to a connection once After bytes went its
// way.
type Action int

const (
	// Close closes the connection on both sides. A side whose data the
	// proxy leaves unread gets a reset from the kernel rather than an end
	// of data, as from any peer that closes without reading.
	Close Action = iota + 1
	// Reset resets the connection on both sides (SO_LINGER 0).
	Reset
	// Stall stops forwarding the Fault's direction: the proxy reads
	// nothing more from that side, so its sender's buffers fill and it
	// blocks, as behind a peer that stopped reading. The other direction
	// flows on, and the connection stays open.
	Stall
	// Drip forwards the Fault's direction at Chunk bytes every Every.
	Drip
)

// Fault is one fault of a connection in one direction.
type Fault struct {
	Dir Direction
	// After is how many bytes go through in Dir, as usual, before
	// Action; counted from the connection's start (Arm) or from the next
	// read (Apply). Armed ToClient, all but about 150 KiB of After wait
	// for the client to read them (see smallSendBuffer), so a larger
	// After strikes a client that has seen its connection open.
	After  int64
	Action Action
	// Chunk and Every pace a Drip: at most Chunk bytes, each after a
	// wait of Every.
	Chunk int
	Every time.Duration
}

func (f Fault) validate() error {
	switch f.Action {
	case Close, Reset, Stall:
	case Drip:
		if f.Chunk <= 0 || f.Every <= 0 {
			return fmt.Errorf("faultproxy: a drip needs Chunk > 0 and Every > 0, not %d and %v", f.Chunk, f.Every)
		}
	default:
		return fmt.Errorf("faultproxy: unknown action %d", int(f.Action))
	}
	if f.Dir != ToTarget && f.Dir != ToClient {
		return fmt.Errorf("faultproxy: unknown direction %d", int(f.Dir))
	}
	if f.After < 0 {
		return fmt.Errorf("faultproxy: negative After %d", f.After)
	}
	return nil
}

// dialTimeout bounds the proxy's connect to its target; a target that
// does not answer in time gets the client a reset.
const dialTimeout = 5 * time.Second

// bufSize is the most one read forwards.
const bufSize = 32 << 10

// Proxy forwards the connections it accepts to its target, with the faults
// armed for them. Its methods are safe for concurrent use. Close it when
// done: it ends every connection and waits for its goroutines.
type Proxy struct {
	routes []*route
	wg     sync.WaitGroup

	mu       sync.Mutex
	armed    [][]Fault
	conns    map[*conn]struct{}
	accepted int
	refusing bool
	closed   bool
}

// route is one listening address and where its connections go.
type route struct {
	addr   string // with the port listened on
	target string
	ln     net.Listener // nil while refusing
}

// Listen returns a proxy listening on addr ("127.0.0.1:0" for any free
// port) and forwarding every connection to target.
func Listen(addr, target string) (*Proxy, error) {
	return start([]*route{{addr: addr, target: target}})
}

// ListenPorts returns a proxy listening on host at every port from first
// to last, each forwarding to the same port of targetHost. It fails if
// any of the ports is taken on host.
func ListenPorts(host string, first, last int, targetHost string) (*Proxy, error) {
	if first <= 0 || last > 65535 || first > last {
		return nil, fmt.Errorf("faultproxy: bad port range %d-%d", first, last)
	}
	var rs []*route
	for port := first; port <= last; port++ {
		p := strconv.Itoa(port)
		rs = append(rs, &route{addr: net.JoinHostPort(host, p), target: net.JoinHostPort(targetHost, p)})
	}
	return start(rs)
}

// ListenFTP puts the FTP server at controlAddr, whose passive data ports
// are pasvFirst to pasvLast, behind two proxies that rewrite none of its
// replies: ctl in front of the control port, data on every passive port,
// each forwarding to the same port of the server's host. They listen on a
// loopback address of their own, 127.x.y.z chosen at random (another if a
// port is taken there), so that a client that dials data connections at
// the control connection's host and the port a reply names, as ftpcore
// does, reaches data for every port the server names; FTPS goes through as
// it is. The server sees every connection come from its own host, so a
// check that a data connection comes from the control connection's peer
// holds. It needs all of 127.0.0.0/8 on the loopback interface, as Linux
// has it.
func ListenFTP(controlAddr string, pasvFirst, pasvLast int) (ctl, data *Proxy, err error) {
	host, _, err := net.SplitHostPort(controlAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("faultproxy: %w", err)
	}
	for range 5 {
		ip := fmt.Sprintf("127.%d.%d.%d", 100+rand.IntN(100), rand.IntN(256), 1+rand.IntN(254))
		if data, err = ListenPorts(ip, pasvFirst, pasvLast, host); err != nil {
			continue
		}
		if ctl, err = Listen(net.JoinHostPort(ip, "0"), controlAddr); err != nil {
			data.Close()
			continue
		}
		return ctl, data, nil
	}
	return nil, nil, err
}

func start(rs []*route) (*Proxy, error) {
	p := &Proxy{routes: rs, conns: make(map[*conn]struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.listenLocked(); err != nil {
		p.closeListenersLocked()
		return nil, err
	}
	return p, nil
}

// listenLocked opens every route's listener and starts accepting.
func (p *Proxy) listenLocked() error {
	for _, r := range p.routes {
		ln, err := net.Listen("tcp", r.addr)
		if err != nil {
			return fmt.Errorf("faultproxy: %w", err)
		}
		r.ln, r.addr = ln, ln.Addr().String()
		p.wg.Add(1)
		go p.accept(r, ln)
	}
	return nil
}

func (p *Proxy) closeListenersLocked() {
	for _, r := range p.routes {
		if r.ln != nil {
			r.ln.Close()
			r.ln = nil
		}
	}
}

// Addr returns the address the proxy listens on; for ListenPorts, that of
// the first port.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.routes[0].addr
}

// Arm gives the next connection the proxy accepts the faults (at most one
// a direction). Each call arms one more connection, in order; a
// connection with nothing armed is forwarded as it is.
func (p *Proxy) Arm(faults ...Fault) error {
	if err := checkFaults(faults); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = append(p.armed, faults)
	return nil
}

// Apply gives every open connection the faults, in place of those it had
// in their directions; After counts from each direction's next read. A
// Close or Reset with After 0 ends the connections before Apply returns.
func (p *Proxy) Apply(faults ...Fault) error {
	if err := checkFaults(faults); err != nil {
		return err
	}
	p.mu.Lock()
	open := slices.Collect(maps.Keys(p.conns))
	p.mu.Unlock()
	for _, c := range open {
		c.apply(faults)
	}
	return nil
}

func checkFaults(faults []Fault) error {
	var seen [2]bool
	for _, f := range faults {
		if err := f.validate(); err != nil {
			return err
		}
		if seen[f.Dir] {
			return fmt.Errorf("faultproxy: two faults %s", f.Dir)
		}
		seen[f.Dir] = true
	}
	return nil
}

// Refuse closes the proxy's listeners, so that new connections are
// refused as by a host with nothing listening, or with on false opens
// them again on the same ports. Open connections are left as they are.
func (p *Proxy) Refuse(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return net.ErrClosed
	}
	if on == p.refusing {
		return nil
	}
	p.refusing = on
	if on {
		p.closeListenersLocked()
		return nil
	}
	if err := p.listenLocked(); err != nil {
		p.closeListenersLocked()
		p.refusing = true
		return err
	}
	return nil
}

// Counts returns how many connections the proxy has accepted, and how many
// of them are open.
func (p *Proxy) Counts() (accepted, open int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted, len(p.conns)
}

// Close closes the listeners and every connection (as Close does, not
// Reset), and waits for the proxy's goroutines to return.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.closeListenersLocked()
	open := slices.Collect(maps.Keys(p.conns))
	p.mu.Unlock()
	for _, c := range open {
		c.end(Close)
	}
	p.wg.Wait()
	return nil
}

func (p *Proxy) accept(r *route, ln net.Listener) {
	defer p.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // transient (EMFILE): back off
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			nc.Close()
			return
		}
		p.accepted++
		var faults []Fault
		if len(p.armed) > 0 {
			faults, p.armed = p.armed[0], p.armed[1:]
		}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.connect(nc.(*net.TCPConn), r.target, faults)
	}
}

// smallSendBuffer is the send buffer towards a client whose connection has
// a fault armed After some bytes (the kernel doubles it).
const smallSendBuffer = 4096

// connect dials the target for the client and forwards between them.
func (p *Proxy) connect(client *net.TCPConn, target string, faults []Fault) {
	defer p.wg.Done()
	tc, err := net.DialTimeout("tcp", target, dialTimeout)
	if err != nil {
		client.SetLinger(0)
		client.Close()
		return
	}
	c := &conn{p: p, client: client, target: tc.(*net.TCPConn), changed: make(chan struct{}), done: make(chan struct{})}
	for _, f := range faults {
		if f.Dir == ToClient && f.After > 0 {
			// With the kernel's buffers (megabytes on loopback) the
			// bytes before the fault could all be "forwarded" before the
			// client even saw its connect complete, and a reset would then
			// fail the connect instead of cutting a transfer. A small send
			// buffer (and the receiver's initial window, about 64 KiB)
			// keeps all but some 150 KiB of After waiting for the client
			// to read them.
			client.SetWriteBuffer(smallSendBuffer)
		}
	}
	c.set(faults)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.end(Close)
		return
	}
	p.conns[c] = struct{}{}
	p.wg.Add(2)
	p.mu.Unlock()
	go c.pump(ToTarget)
	go c.pump(ToClient)
}

func (p *Proxy) forget(c *conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// conn is one proxied connection: a pump a direction.
type conn struct {
	p              *Proxy
	client, target *net.TCPConn
	once           sync.Once
	done           chan struct{} // closed by end

	mu      sync.Mutex
	dirs    [2]dirState
	changed chan struct{} // closed and replaced when a fault changes
	ended   int           // directions that reached their end of data
}

// dirState is a direction's fault: left more bytes, then its action.
type dirState struct {
	fault *Fault
	left  int64
}

func (c *conn) set(faults []Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range faults {
		c.dirs[f.Dir] = dirState{fault: &f, left: f.After}
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *conn) apply(faults []Fault) {
	c.set(faults)
	for _, f := range faults {
		if f.After == 0 && (f.Action == Close || f.Action == Reset) {
			c.end(f.Action)
			return
		}
	}
}

// step is what a pump does next: act, or read at most max bytes after a
// wait of wait.
type step struct {
	act     Action // Close, Reset or Stall; 0 to read
	max     int
	wait    time.Duration
	changed <-chan struct{}
}

func (c *conn) next(d Direction) step {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.dirs[d]
	switch {
	case st.fault == nil:
		return step{max: bufSize}
	case st.left > 0:
		return step{max: int(min(st.left, bufSize))}
	case st.fault.Action == Drip:
		return step{max: min(st.fault.Chunk, bufSize), wait: st.fault.Every}
	}
	return step{act: st.fault.Action, changed: c.changed}
}

func (c *conn) forwarded(d Direction, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := &c.dirs[d]; st.fault != nil {
		st.left = max(st.left-int64(n), 0)
	}
}

// pump forwards direction d until its end of data, a fault, or the end of
// the connection.
func (c *conn) pump(d Direction) {
	defer c.p.wg.Done()
	src, dst := c.client, c.target
	if d == ToClient {
		src, dst = c.target, c.client
	}
	buf := make([]byte, bufSize)
	for {
		s := c.next(d)
		switch s.act {
		case Close, Reset:
			c.end(s.act)
			return
		case Stall:
			select {
			case <-c.done:
				return
			case <-s.changed:
				continue
			}
		}
		if s.wait > 0 {
			t := time.NewTimer(s.wait)
			select {
			case <-c.done:
				t.Stop()
				return
			case <-t.C:
			}
		}
		n, err := src.Read(buf[:s.max])
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				c.end(Reset) // the receiver is gone: so is its sender's peer
				return
			}
			c.forwarded(d, n)
		}
		if err == io.EOF {
			c.halfClose(dst)
			return
		}
		if err != nil {
			c.end(Reset) // a reset, passed on; or the connection ended
			return
		}
	}
}

// halfClose passes a direction's end of data on, and ends the connection
// once both directions have ended.
func (c *conn) halfClose(dst *net.TCPConn) {
	dst.CloseWrite()
	c.mu.Lock()
	c.ended++
	both := c.ended == 2
	c.mu.Unlock()
	if both {
		c.end(Close)
	}
}

// end closes or resets both sides, once.
func (c *conn) end(a Action) {
	c.once.Do(func() {
		if a == Reset {
			c.client.SetLinger(0)
			c.target.SetLinger(0)
		}
		c.client.Close()
		c.target.Close()
		close(c.done)
		c.p.forget(c)
	})
}
