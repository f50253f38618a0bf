//go:build linux

package realftpd

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func unsupported() string { return "" }

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		// A group of its own, so that a kill of the group cannot reach
		// the test binary.
		Setpgid: true,
		// If the test binary dies without running cleanups (a panic or
		// -timeout), do not leave a listener behind.
		Pdeathsig: syscall.SIGKILL,
	}
}

// killTree kills the vsftpd listener pid and every process descended from
// it. Killing the listener's process group is not enough: vsftpd's
// per-connection process calls setsid, and it and its unprivileged child
// would keep serving an open client connection after the listener is gone.
func killTree(pid int) {
	// Stopped, the listener forks no new sessions while we look.
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	self := syscall.Getpgrp()
	for range 50 {
		procs := descendants(pid)
		if len(procs) == 0 {
			break
		}
		for _, p := range procs {
			// The group catches a child forked after the scan.
			if p.pgid > 1 && p.pgid != self {
				_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
			}
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

type proc struct{ pid, ppid, pgid int }

// descendants lists the live (not zombie) processes below root, read from
// /proc/*/stat.
func descendants(root int) []proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := make(map[int][]proc)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid pgrp ..."; comm may hold spaces and ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		ppid, err1 := strconv.Atoi(f[1])
		pgid, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			continue
		}
		children[ppid] = append(children[ppid], proc{pid: pid, ppid: ppid, pgid: pgid})
	}
	var out []proc
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
	}
	return out
}

// listening reports whether process pid holds a TCP socket listening on
// port, on any address. It matches the socket inodes among the process's
// descriptors with the kernel's table of sockets.
func listening(pid, port int) bool {
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return false
	}
	inodes := make(map[string]bool)
	for _, fd := range fds {
		target, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + fd.Name())
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(target, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	if len(inodes) == 0 {
		return false
	}
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/" + table)
		if err != nil {
			continue
		}
		// "sl local_address rem_address st tx_queue:rx_queue tr:tm->when
		// retrnsmt uid timeout inode ...", addresses as HEXIP:HEXPORT.
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != tcpListen || !inodes[f[9]] {
				continue
			}
			i := strings.LastIndexByte(f[1], ':')
			if p, err := strconv.ParseUint(f[1][i+1:], 16, 16); err == nil && int(p) == port {
				return true
			}
		}
	}
	return false
}

// tcpListen is TCP_LISTEN in /proc/net/tcp's state column.
const tcpListen = "0A"
