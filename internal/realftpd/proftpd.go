package realftpd

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// proftpdArgs writes proftpd.conf for port and returns the command line.
func (s *Server) proftpdArgs(port int) ([]string, error) {
	confPath := filepath.Join(s.dir, "proftpd.conf")
	if err := os.WriteFile(confPath, []byte(s.proftpdConfig(port)), 0o600); err != nil {
		return nil, err
	}
	// -n: the foreground, so the process we started is the listener.
	return []string{"-n", "-c", confPath}, nil
}

// proftpdModuleDir is where the unpacked proftpd-core keeps its shared
// modules. The binary was built to look in /usr/lib/proftpd, which the
// unpacked package does not populate.
func proftpdModuleDir() string {
	return filepath.Join(serversDir(), "proftpd", "usr/lib/proftpd")
}

// proftpdConfig renders proftpd.conf. Everything used here (mod_auth_unix,
// mod_facts for MLSD/MLST, mod_log, mod_delay, mod_ls) is built in except
// mod_digest, the one module loaded; Debian's /etc/proftpd is not read.
func (s *Server) proftpdConfig(port int) string {
	q := strconv.Quote
	lines := []string{
		// mod_digest answers HASH (draft-bryan-ftpext-hash; FEAT "HASH
		// CRC32;MD5;SHA-1*;SHA-256;SHA-512;") and the older MD5, XCRC,
		// XMD5, XSHA, XSHA1, XSHA256 and XSHA512, all listed in FEAT.
		// ModulePath must come before LoadModule.
		"ModulePath " + q(proftpdModuleDir()),
		"LoadModule mod_digest.c",
		"ServerType standalone",
		`ServerName "ftpgw realftpd"`,
		"Port " + strconv.Itoa(port),
		"DefaultAddress " + s.Host,
		"SocketBindTight on",
		"UseIPv6 " + onOff(s.opts.IPv6),
		// The listener drops to these; sessions run as the logged-in user.
		"User nobody",
		"Group nogroup",
		// proftpd refuses a world-writable directory for these; the
		// instance directory is 0711.
		"ScoreboardFile " + q(filepath.Join(s.dir, "proftpd.scoreboard")),
		"PidFile " + q(filepath.Join(s.dir, "proftpd.pid")),
		// mod_delay pads every login to defeat user-name probing: that, not
		// authentication, is where its ~450 ms per login went.
		"DelayEngine off",
		"UseReverseDNS off",
		"WtmpLog off",
		// Straight from /etc/shadow: Debian's PAM file for proftpd is not
		// installed with the unpacked binary.
		"AuthPAM off",
		"AuthOrder mod_auth_unix.c",
		"RequireValidShell off",
		// No chroot (as vsftpd): the user lands in Root and PWD names it.
		"DefaultChdir " + q(s.Root),
		"AllowOverwrite on",
		"AllowStoreRestart on",
		"AllowRetrieveRestart on",
		"Umask 022",
		"TimesGMT on",
		fmt.Sprintf("PassivePorts %d %d", s.PasvMinPort, s.PasvMaxPort),
		"MaxInstances 500",
		"TimeoutIdle 600",
		// Start holds an unauthenticated connection open for the
		// server's lifetime (see there).
		"TimeoutLogin 0",
		"TimeoutNoTransfer 600",
		"TransferLog " + q(filepath.Join(s.dir, "xferlog")),
		// One line per command, written before the reply is sent, failed
		// commands included; %r is the request as received, PASS as
		// "PASS (hidden)". An OPTS shows up twice, first as the command
		// the core hands on to the module ("OPTS_UTF8 ON", then "OPTS
		// UTF8 ON"; "OPTS_HASH SHA-256", then "OPTS HASH SHA-256").
		`LogFormat commands "%r"`,
		"ExtendedLog " + q(s.cmdLogPath) + " ALL commands",
		// DigestCache stays at its default, as on a stock server: each
		// session caches digests by path, size and mtime in whole
		// seconds, so a same-size rewrite within a second can get the
		// old digest on a session that asked before. It also digests
		// transfers as they pass, to fill that cache (DigestOptions
		// NoTransferCache would stop it).
		"<IfModule mod_digest.c>",
		"  DigestEngine on",
		"  DigestAlgorithms all",
		"</IfModule>",
	}
	if s.opts.MaxConns > 0 {
		lines = append(lines, "MaxConnectionsPerHost "+strconv.Itoa(s.opts.MaxConns))
	}
	if !s.opts.ActiveMode {
		lines = append(lines, "<Limit EPRT PORT>", "  DenyAll", "</Limit>")
	}
	return strings.Join(lines, "\n") + "\n"
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// parseProftpdCommand turns a line of the command log back into the
// command, with PASS written as vsftpd does.
func parseProftpdCommand(line string) string {
	if line == "PASS (hidden)" {
		return "PASS <password>"
	}
	return line
}
