package ftptest

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// WithIPv6 makes the server listen on [::1] instead of 127.0.0.1, for the
// control connection and for EPSV. PASV is still answered, with
// 127,0,0,1, as PASV cannot say anything else; a client must not use it
// over IPv6.
func WithIPv6() Option {
	return func(s *Server) { s.x.ipv6 = true }
}

// listenAddr is where the control listener listens.
func (s *Server) listenAddr() (network, address string) {
	if s.x.ipv6 {
		return "tcp6", "[::1]:0"
	}
	return "tcp4", "127.0.0.1:0"
}

// listenPassive opens a passive listener on the address the client reached
// the control connection at, and forgets any EPRT/PORT address: the last
// of EPSV, PASV, EPRT and PORT decides how the next transfer connects.
func (c *Conn) listenPassive() (net.Listener, error) {
	c.setActive(nil)
	ip := net.IPv4(127, 0, 0, 1)
	if ta, ok := c.nc.LocalAddr().(*net.TCPAddr); ok {
		ip = ta.IP
	}
	return net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
}

func (c *Conn) setActive(a *net.TCPAddr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.x.active = a
}

func (c *Conn) takeActive() *net.TCPAddr {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.x.active
	c.x.active = nil
	return a
}

// hasDataSetup reports whether a transfer command can get a data
// connection: a passive listener or an EPRT/PORT address.
func (c *Conn) hasDataSetup() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pasv != nil || c.x.active != nil
}

// extBuiltin returns the built-in commands defined outside commands.go.
func (c *Conn) extBuiltin(cmd string) func(arg string) {
	switch cmd {
	case "EPRT":
		return c.cmdEPRT
	case "PORT":
		return c.cmdPORT
	case "AUTH":
		return c.cmdAUTH
	case "PBSZ":
		return c.cmdPBSZ
	case "PROT":
		return c.cmdPROT
	}
	return nil
}

// cmdEPRT takes "|1|a.b.c.d|port|" or "|2|ipv6|port|" (RFC 2428 §2), with
// any printable delimiter.
func (c *Conn) cmdEPRT(arg string) {
	a, ok := parseEPRT(arg)
	if !ok {
		c.Reply(501, "Bad EPRT argument.")
		return
	}
	c.setPort(a)
}

// cmdPORT takes "h1,h2,h3,h4,p1,p2" (RFC 959 §4.1.2).
func (c *Conn) cmdPORT(arg string) {
	a, ok := parsePORT(arg)
	if !ok {
		c.Reply(501, "Bad PORT argument.")
		return
	}
	c.setPort(a)
}

// setPort records the client's data address. Like vsftpd without
// port_promiscuous, it refuses an address other than the client's own, so
// that the server cannot be made to connect elsewhere (the FTP bounce).
func (c *Conn) setPort(a *net.TCPAddr) {
	if ta, ok := c.nc.RemoteAddr().(*net.TCPAddr); !ok || !ta.IP.Equal(a.IP) {
		c.Reply(500, "Illegal PORT command.")
		return
	}
	c.closePasv()
	c.setActive(a)
	c.Reply(200, "PORT command successful. Consider using PASV.")
}

func parseEPRT(arg string) (*net.TCPAddr, bool) {
	if len(arg) < 7 {
		return nil, false
	}
	parts := strings.Split(arg, arg[:1])
	if len(parts) != 5 || parts[0] != "" || parts[4] != "" {
		return nil, false
	}
	ip := net.ParseIP(parts[2])
	port, err := strconv.Atoi(parts[3])
	if ip == nil || err != nil || port < 1 || port > 65535 {
		return nil, false
	}
	switch parts[1] {
	case "1":
		if ip.To4() == nil {
			return nil, false
		}
	case "2":
		if ip.To4() != nil {
			return nil, false
		}
	default:
		return nil, false
	}
	return &net.TCPAddr{IP: ip, Port: port}, true
}

func parsePORT(arg string) (*net.TCPAddr, bool) {
	f := strings.Split(strings.TrimSpace(arg), ",")
	if len(f) != 6 {
		return nil, false
	}
	var n [6]byte
	for i, s := range f {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > 255 {
			return nil, false
		}
		n[i] = byte(v)
	}
	port := int(n[4])<<8 | int(n[5])
	if port == 0 {
		return nil, false
	}
	return &net.TCPAddr{IP: net.IPv4(n[0], n[1], n[2], n[3]), Port: port}, true
}

// dialActive connects to the address of the last EPRT or PORT, from the
// control connection's local address, within the data accept timeout.
func (c *Conn) dialActive(a *net.TCPAddr) (net.Conn, error) {
	d := net.Dialer{Timeout: dataAcceptTimeout}
	if ta, ok := c.nc.LocalAddr().(*net.TCPAddr); ok {
		d.LocalAddr = &net.TCPAddr{IP: ta.IP}
	}
	dc, err := d.Dial("tcp", a.String())
	if err != nil {
		return nil, fmt.Errorf("ftptest: connect to %s: %w", a, err)
	}
	return dc, nil
}

// connectData is AcceptData after EPRT or PORT.
func (c *Conn) connectData(a *net.TCPAddr) (net.Conn, error) {
	dc, err := c.dialActive(a)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		dc.Close()
		return nil, net.ErrClosed
	}
	c.data = append(c.data, dc)
	c.mu.Unlock()
	c.s.mu.Lock()
	c.s.dataConns++
	c.s.mu.Unlock()
	return c.secureData(dc)
}
