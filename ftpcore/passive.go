package ftpcore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Passive data connections (RFC 959 PASV, RFC 2428 EPSV): the server
// listens and the client dials the port its reply names, at the control
// connection's peer unless Config.UsePASVAddress says otherwise.

// openData asks for a passive data connection (EPSV first, PASV when EPSV
// is refused, remembered for the session) and connects to it.
func (c *Conn) openData(ctx context.Context) (net.Conn, error) {
	port, host, err := c.passive(ctx)
	if err != nil {
		return nil, err
	}
	nc, err := c.dialData(ctx, host, port)
	if err != nil {
		// The server holds a passive listener we never used; it will drop
		// it at the next data command, so the session is still consistent.
		if ctx.Err() != nil {
			c.poison(ctx.Err())
		}
		return nil, err
	}
	return nc, nil
}

// passive sends EPSV or PASV and returns the port and host to connect to.
func (c *Conn) passive(ctx context.Context) (port int, host string, err error) {
	for {
		verb := c.passiveVerb()
		rep, err := c.roundTrip(ctx, verb, "")
		if err != nil {
			return 0, "", err
		}
		host, port, err := c.passiveAddr(verb, rep)
		if c.fallBackToPASV(verb, err) {
			continue
		}
		var pe *ProtocolError
		if errors.As(err, &pe) {
			c.poison(err)
		}
		return port, host, err
	}
}

// passiveVerb is the command that asks for a passive data connection:
// EPSV, or PASV once EPSV was refused or when configured so. PASV cannot
// describe an IPv6 address: over IPv6, EPSV or nothing.
func (c *Conn) passiveVerb() string {
	if c.ipv6() || (!c.noEPSV && !c.cfg.DisableEPSV) {
		return "EPSV"
	}
	return "PASV"
}

// fallBackToPASV reports whether err, what passiveAddr made of the reply
// to verb, is EPSV refused as a command the server does not know, and then
// has PASV asked from now on, for the rest of the session. Sequential and
// pipelined starts alike go by it. RFC 959 has an unknown command answered
// with 500 or 502; any permanent refusal (5yz) of EPSV is taken the same
// way, as PASV is what is left to try. PASV cannot describe an IPv6
// address, so over IPv6 the refusal stands.
func (c *Conn) fallBackToPASV(verb string, err error) bool {
	// err is nil on every start but this one: the target errors.As needs
	// would cost an allocation each time.
	if err == nil || verb != "EPSV" || c.ipv6() {
		return false
	}
	var fe *Error
	if !errors.As(err, &fe) || fe.Code < 500 {
		return false
	}
	c.noEPSV = true
	return true
}

// ipv6 reports whether the control connection runs over IPv6.
func (c *Conn) ipv6() bool { return c.peer != nil && c.peer.To4() == nil }

// passiveAddr reads where to connect from the reply to verb (EPSV or
// PASV): an *Error when the server refused, a ProtocolError when the
// reply cannot be read. The host is the control connection's peer, or with
// UsePASVAddress the address a 227 names.
func (c *Conn) passiveAddr(verb string, rep *Reply) (host string, port int, err error) {
	host = c.peer.String()
	switch {
	case verb == "EPSV" && rep.Code == StatusExtendedPassive:
		port, err = parseEPSV(rep.Msg())
		return host, port, err
	case verb == "PASV" && rep.Code == StatusPassiveMode:
		ip, port, err := parsePASV(rep.Msg())
		if err != nil {
			return "", 0, err
		}
		if c.cfg.UsePASVAddress && !ip.IsUnspecified() {
			host = ip.String()
		}
		return host, port, nil
	}
	return "", 0, unexpected(verb, rep)
}

// parseEPSV reads the port from a 229 reply: "(<d><d><d>port<d>)" where
// <d> is any printable delimiter (RFC 2428 §3).
func parseEPSV(msg string) (int, error) {
	i := strings.IndexByte(msg, '(')
	j := strings.LastIndexByte(msg, ')')
	if i < 0 || j < i+6 {
		return 0, &ProtocolError{Cmd: "EPSV", Msg: fmt.Sprintf("malformed 229 reply %q", msg)}
	}
	f := msg[i+1 : j]
	d := f[0]
	if d < 33 || d > 126 || f[1] != d || f[2] != d || f[len(f)-1] != d {
		return 0, &ProtocolError{Cmd: "EPSV", Msg: fmt.Sprintf("malformed 229 reply %q", msg)}
	}
	// Digits only: Atoi would also take a sign ("+21").
	p := f[3 : len(f)-1]
	port, err := strconv.Atoi(p)
	if !isNumber(p) || err != nil || port <= 0 || port > 65535 {
		return 0, &ProtocolError{Cmd: "EPSV", Msg: fmt.Sprintf("bad port in 229 reply %q", msg)}
	}
	return port, nil
}

// parsePASV reads "h1,h2,h3,h4,p1,p2" from a 227 reply. RFC 959 does not fix
// where the numbers stand, so the first run of six comma-separated numbers
// counts.
func parsePASV(msg string) (net.IP, int, error) {
	bad := func() (net.IP, int, error) {
		return nil, 0, &ProtocolError{Cmd: "PASV", Msg: fmt.Sprintf("malformed 227 reply %q", msg)}
	}
	start := strings.IndexFunc(msg, func(r rune) bool { return r >= '0' && r <= '9' })
	if start < 0 {
		return bad()
	}
	end := start
	for end < len(msg) && (isDigit(msg[end]) || msg[end] == ',' || msg[end] == ' ') {
		end++
	}
	parts := strings.Split(msg[start:end], ",")
	if len(parts) != 6 {
		return bad()
	}
	var n [6]int
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 0 || v > 255 {
			return bad()
		}
		n[i] = v
	}
	port := n[4]<<8 | n[5]
	if port == 0 {
		return bad()
	}
	return net.IPv4(byte(n[0]), byte(n[1]), byte(n[2]), byte(n[3])), port, nil
}

// dialData connects to a passive data port within DataConnTimeout.
func (c *Conn) dialData(ctx context.Context, host string, port int) (net.Conn, error) {
	d := c.cfg.dataDialer() // keepalive.go
	if c.log != nil {
		c.log.Debug("ftp data dial", "addr", c.cfg.Addr, "port", port)
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DataConnTimeout)
	defer cancel()
	nc, err := d.DialContext(dctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("ftpcore: %w: %w", ErrDataConn, err)
	}
	return nc, nil
}
