package realftpd

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// vsftpdArgs writes vsftpd.conf for port and returns the command line.
func (s *Server) vsftpdArgs(port int) ([]string, error) {
	confPath := filepath.Join(s.dir, "vsftpd.conf")
	if err := os.WriteFile(confPath, []byte(s.vsftpdConfig(port)), 0o600); err != nil {
		return nil, err
	}
	return []string{confPath}, nil
}

// vsftpdConfig renders vsftpd.conf. vsftpd rejects unknown or malformed
// lines, and it reads no other configuration file when one is named on the
// command line.
func (s *Server) vsftpdConfig(port int) string {
	yes := func(b bool) string {
		if b {
			return "YES"
		}
		return "NO"
	}
	opts := [][2]string{
		{"listen_port", strconv.Itoa(port)},
		// In the foreground, so the process we started is the listener.
		{"background", "NO"},
		// The seccomp sandbox kills sessions in these containers.
		{"seccomp_sandbox", "NO"},
		{"secure_chroot_dir", filepath.Join(s.dir, "empty")},
		{"pasv_enable", "YES"},
		{"pasv_min_port", strconv.Itoa(s.PasvMinPort)},
		{"pasv_max_port", strconv.Itoa(s.PasvMaxPort)},
		{"port_enable", yes(s.opts.ActiveMode)},
		// Active data connections come from an ephemeral port, not 20,
		// and go only to the address of the control connection.
		{"connect_from_port_20", "NO"},
		{"port_promiscuous", "NO"},
		{"write_enable", "YES"},
		{"local_enable", "YES"},
		{"anonymous_enable", "NO"},
		{"local_root", s.Root},
		{"local_umask", "022"},
		{"allow_writeable_chroot", "YES"},
		{"pam_service_name", "vsftpd"},
		{"hide_ids", "NO"},
		{"log_ftp_protocol", "YES"},
		{"vsftpd_log_file", s.logPath},
		{"xferlog_enable", "YES"},
		{"xferlog_std_format", "NO"},
		{"dual_log_enable", "NO"},
		{"use_localtime", "NO"},
		{"idle_session_timeout", "600"},
		{"data_connection_timeout", "120"},
		{"max_per_ip", strconv.Itoa(s.opts.MaxConns)},
		{"max_clients", "0"},
	}
	if s.opts.IPv6 {
		opts = append(opts, [][2]string{
			{"listen", "NO"},
			{"listen_ipv6", "YES"},
			{"listen_address6", s.Host},
		}...)
	} else {
		// PASV replies carry an IPv4 address; EPSV ones none.
		pasv := s.Host
		if s.opts.PasvAddress != "" {
			pasv = s.opts.PasvAddress
		}
		opts = append(opts, [][2]string{
			{"listen", "YES"},
			{"listen_ipv6", "NO"},
			{"listen_address", s.Host},
			{"pasv_address", pasv},
		}...)
	}
	if s.TLS != nil {
		opts = append(opts, [][2]string{
			{"ssl_enable", "YES"},
			{"implicit_ssl", yes(s.TLS.Implicit)},
			{"rsa_cert_file", s.tlsFiles.cert},
			{"rsa_private_key_file", s.tlsFiles.key},
			{"allow_anon_ssl", "NO"},
			{"force_local_logins_ssl", "YES"},
			{"force_local_data_ssl", "YES"},
			{"require_ssl_reuse", "YES"},
			// The certificate is ECDSA, which vsftpd's default list
			// (ECDHE-RSA-AES256-GCM-SHA384 alone) cannot use with TLS
			// 1.2. TLS 1.3 suites are not affected by this option.
			{"ssl_ciphers", "HIGH"},
			{"ssl_sslv2", "NO"},
			{"ssl_sslv3", "NO"},
			// All of TLS 1.0 to 1.3: this build has no finer switch.
			{"ssl_tlsv1", "YES"},
		}...)
	}
	var b strings.Builder
	for _, o := range opts {
		fmt.Fprintf(&b, "%s=%s\n", o[0], o[1])
	}
	return b.String()
}

// parseCommand extracts the command from a vsftpd protocol log line such as
//
//	Mon Nov 24 04:14:31 2026 [pid 42] [ftpgwtest] FTP command: Client "127.0.0.1", "RETR x"
func parseCommand(line string) (string, bool) {
	const marker = `FTP command: Client "`
	_, rest, ok := strings.Cut(line, marker)
	if !ok {
		return "", false
	}
	_, cmd, ok := strings.Cut(rest, `", "`)
	if !ok || !strings.HasSuffix(cmd, `"`) {
		return "", false
	}
	return strings.TrimSuffix(cmd, `"`), true
}
