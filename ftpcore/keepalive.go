package ftpcore

import "net"

// Keepalive on the control connection.
//
// During a transfer the control connection carries nothing for as long as
// the transfer lasts, and a NAT or firewall may forget it; the transfer
// then ends with a final reply that never arrives. TCP keepalive
// (Config.KeepAlive) keeps the connection's state alive in middleboxes.
//
// NOOP during a transfer is not used instead, because the servers do not
// agree on what it means (measured with realftpd): vsftpd 3.0.3 and
// proftpd 1.3.8 read no command until the transfer ends and then answer
// "226 Transfer complete." followed by one "200" per NOOP, while pure-ftpd
// 1.0.50 answers each NOOP at once, mid-transfer, with "500 Unknown
// command", before its 226. Nor is it needed for the servers' own idle
// timers, which run only between commands: a 6.5 s download under a 2 s
// idle timeout (vsftpd idle_session_timeout, proftpd TimeoutIdle), and a
// 151 s one under pure-ftpd's 60 s (-I 1), completed and the session
// answered NOOP afterwards; each server closed it only when it then stayed
// idle past the timeout.

// controlDialer returns the dialer for the control connection: a copy of
// Config.Dialer (never modified) or a new one, with TCP keepalive set from
// KeepAlive: probes after KeepAlive of silence and every KeepAlive after
// that, or none when KeepAlive is negative.
func (c *Config) controlDialer() *net.Dialer {
	var d net.Dialer
	if c.Dialer != nil {
		d = *c.Dialer
	}
	if c.KeepAlive < 0 {
		d.KeepAlive = -1
		d.KeepAliveConfig = net.KeepAliveConfig{}
		return &d
	}
	d.KeepAliveConfig = net.KeepAliveConfig{Enable: true, Idle: c.KeepAlive, Interval: c.KeepAlive}
	return &d
}

// dataDialer is the dialer for passive data connections: Config.Dialer or a
// new one, without TCP keepalive unless Config.Dialer asks for it. A data
// connection lives for one transfer, which the DataTimeout idle watch
// bounds; keepalive would only cost four setsockopt calls per transfer.
func (c *Config) dataDialer() *net.Dialer {
	if c.Dialer != nil {
		return c.Dialer
	}
	return noKeepAliveDialer
}

var noKeepAliveDialer = &net.Dialer{KeepAlive: -1}
