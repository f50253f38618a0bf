package ftpcore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Active data connections (RFC 959 PORT, RFC 2428 EPRT): the client
// listens, tells the server where, and accepts the server's connection,
// from the control connection's peer only.

// activeListen opens the listener for an active-mode data connection and
// tells the server where it is: EPRT (RFC 2428 §2), or PORT when the
// server has refused EPRT as unknown (remembered for the session). PORT
// cannot carry an IPv6 address, so over IPv6 EPRT's refusal is the error.
func (c *Conn) activeListen(ctx context.Context) (*net.TCPListener, error) {
	ip := c.activeIP()
	ln, err := listenActive(ctx, ip, c.cfg.ActivePortMin, c.cfg.ActivePortMax)
	if err != nil {
		return nil, fmt.Errorf("ftpcore: active data listener: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	v4 := ip.To4()
	if !c.noEPRT || v4 == nil {
		rep, err := c.roundTrip(ctx, "EPRT", formatEPRT(ip, port))
		if err != nil {
			ln.Close()
			return nil, err
		}
		switch {
		case rep.Code == StatusCommandOK:
			return ln, nil
		case (rep.Code == StatusBadCommand || rep.Code == StatusNotImplemented) && v4 != nil:
			c.noEPRT = true
		default:
			ln.Close()
			return nil, unexpected("EPRT", rep)
		}
	}
	if _, err := c.expect(ctx, "PORT", formatPORT(v4, port), StatusCommandOK); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// activeIP is the address to listen on and announce: Config.ActiveAddr,
// or the local address of the control connection, the one address the
// server is known to reach.
func (c *Conn) activeIP() net.IP {
	if c.cfg.ActiveAddr != "" {
		return net.ParseIP(c.cfg.ActiveAddr) // checked by Config.validate
	}
	if ta, ok := c.nc.LocalAddr().(*net.TCPAddr); ok {
		return ta.IP
	}
	return net.IPv4zero
}

// listenActive listens on ip at a port in [lo, hi], any port when both
// are 0, starting at a random port of the range so that concurrent
// sessions do not all race for its first one.
func listenActive(ctx context.Context, ip net.IP, lo, hi int) (*net.TCPListener, error) {
	var lc net.ListenConfig
	listen := func(port int) (*net.TCPListener, error) {
		ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(ip.String(), strconv.Itoa(port)))
		if err != nil {
			return nil, err
		}
		return ln.(*net.TCPListener), nil
	}
	if lo == 0 && hi == 0 {
		return listen(0)
	}
	if lo == 0 {
		lo = 1024
	}
	if hi == 0 {
		hi = 65535
	}
	n := hi - lo + 1
	start := rand.IntN(n)
	for i := range n {
		ln, err := listen(lo + (start+i)%n)
		if err == nil {
			return ln, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no free port in %d-%d", lo, hi)
}

// formatEPRT renders the EPRT argument: |1|a.b.c.d|port| or |2|ipv6|port|.
func formatEPRT(ip net.IP, port int) string {
	if v4 := ip.To4(); v4 != nil {
		return "|1|" + v4.String() + "|" + strconv.Itoa(port) + "|"
	}
	return "|2|" + ip.String() + "|" + strconv.Itoa(port) + "|"
}

// formatPORT renders the PORT argument h1,h2,h3,h4,p1,p2 (RFC 959 §4.1.2).
func formatPORT(v4 net.IP, port int) string {
	var b strings.Builder
	for _, o := range v4 {
		b.WriteString(strconv.Itoa(int(o)))
		b.WriteByte(',')
	}
	b.WriteString(strconv.Itoa(port >> 8))
	b.WriteByte(',')
	b.WriteString(strconv.Itoa(port & 0xff))
	return b.String()
}

// acceptActive waits, at most DataConnTimeout, for the server to connect
// to ln. A connection from any address but the control connection's peer
// is closed and the wait goes on: anyone who can reach the port could
// otherwise feed the download or take the upload.
func (c *Conn) acceptActive(ctx context.Context, ln *net.TCPListener) (net.Conn, error) {
	defer ln.Close()
	ln.SetDeadline(time.Now().Add(c.cfg.DataConnTimeout))
	stop := context.AfterFunc(ctx, func() { ln.SetDeadline(aLongTimeAgo) })
	defer stop()
	for {
		nc, err := ln.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("accept: %w", err)
		}
		if fromPeer(nc.RemoteAddr(), c.peer) {
			return nc, nil
		}
		if c.log != nil {
			c.log.Debug("ftp active data connection from a stranger refused", "addr", c.cfg.Addr,
				"from", nc.RemoteAddr().String())
		}
		nc.SetLinger(0)
		nc.Close()
	}
}

// fromPeer reports whether addr is a TCP address with the IP peer.
func fromPeer(addr net.Addr, peer net.IP) bool {
	ta, ok := addr.(*net.TCPAddr)
	return ok && peer != nil && ta.IP.Equal(peer)
}
