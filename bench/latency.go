package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ftpgw/ftpgw/internal/delayproxy"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// The latency mode (issue 13): vsftpd on 127.0.0.1 reached through delay
// proxies on 127.0.0.2, one for its control port and one for each port of
// its passive range, so that the control and the data connections cross
// the same emulated network; vsftpd's PASV replies name 127.0.0.2 too
// (realftpd.Options.PasvAddress), and EPSV replies name no address. At
// each round-trip time three sides take turns: the gateway with its
// upstream at the proxy, a direct curl ftp:// through it (a login per
// request), and rclone serve http with an ftp remote at the proxy.
const (
	proxyHost = "127.0.0.2"
	// latRequests is the ranges of measurement a per side and run.
	latRequests = 5
	// latTimeout bounds one request of a side, so that a slow path
	// (rclone's) cannot stall the run; it is counted as a timeout.
	latTimeout = 10 * time.Second
	// latWarm is the untimed requests that warm a side before a.
	latWarm = 3
	// capRate is measurement c's cap on each direction of each
	// connection: 1 Gbit/s.
	capRate = 125_000_000
	// capRTT is the round-trip time of measurements c, f (its second row)
	// and g.
	capRTT = 10 * time.Millisecond
	// mgParts ranges of mrPartLen bytes far apart make g's request.
	mgParts = 4
)

// rcloneFlags are what rclone serve http runs with besides its remote:
// read only (it serves GETs here), no VFS cache (a range is read from the
// FTP server, as the gateway does), directory entries kept for the run
// (as the gateway's stat is per request, this favours rclone), no limit on
// its FTP connections.
var rcloneFlags = []string{"--read-only", "--vfs-cache-mode", "off", "--dir-cache-time", "1h", "--ftp-concurrency", "0"}

// The three sides, in the order of the results' arrays.
const (
	sideGateway = iota
	sideCurl
	sideRclone
	nSides
)

var sideNames = [nSides]string{"gateway", "curl ftp://", "rclone serve http"}

// network is the delay proxies in front of one vsftpd: its control port
// and every port of its passive range, each at the same port on
// proxyHost. Not safe for concurrent use.
type network struct {
	srv     *realftpd.Server
	ctl     int
	proxies []*delayproxy.Proxy
	rtt     time.Duration
	rate    int64
}

func newNetwork(srv *realftpd.Server) (*network, error) {
	_, port, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		return nil, err
	}
	ctl, err := strconv.Atoi(port)
	if err != nil {
		return nil, err
	}
	return &network{srv: srv, ctl: ctl}, nil
}

// set (re)starts the proxies with a one-way delay of rtt/2 and a rate
// cap (0 for none). Connections through the old ones are cut.
func (n *network) set(rtt time.Duration, rate int64) error {
	if err := n.close(); err != nil {
		return err
	}
	ports := []int{n.ctl}
	for p := n.srv.PasvMinPort; p <= n.srv.PasvMaxPort; p++ {
		ports = append(ports, p)
	}
	for _, p := range ports {
		port := strconv.Itoa(p)
		px, err := delayproxy.Listen(net.JoinHostPort(proxyHost, port), net.JoinHostPort(n.srv.Host, port), rtt/2, rate)
		if err != nil {
			return errors.Join(fmt.Errorf("delay proxy on %s:%s: %v", proxyHost, port, err), n.close())
		}
		n.proxies = append(n.proxies, px)
	}
	n.rtt, n.rate = rtt, rate
	return nil
}

func (n *network) close() error {
	var errs []error
	for _, p := range n.proxies {
		errs = append(errs, p.Close())
	}
	n.proxies = nil
	return errors.Join(errs...)
}

// addr is the control address through the proxies.
func (n *network) addr() string { return net.JoinHostPort(proxyHost, strconv.Itoa(n.ctl)) }

// ftpURL is the direct URL of a file through the proxies, for curl.
func (n *network) ftpURL(name string) string {
	return (&url.URL{Scheme: "ftp", User: url.UserPassword(n.srv.User, n.srv.Password), Host: n.addr(), Path: "/" + name}).String()
}

// rcloneServer is one rclone serve http process on 127.0.0.1.
type rcloneServer struct {
	addr    string
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
}

// startRclone starts rclone serve http with an ftp remote at addr, the
// password obscured as rclone wants it, and waits until it lists the root.
func startRclone(ctx context.Context, tmp, addr string, srv *realftpd.Server) (*rcloneServer, error) {
	if _, err := exec.LookPath("rclone"); err != nil {
		return nil, errors.New("rclone is not installed (make bench installs it)")
	}
	obscure := exec.CommandContext(ctx, "rclone", "obscure", "-")
	obscure.Stdin = strings.NewReader(srv.Password)
	out, err := obscure.Output()
	if err != nil {
		return nil, fmt.Errorf("rclone obscure: %v", err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	listen, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(tmp, "rclone.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		return nil, err
	}
	rc := &rcloneServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(listen)), done: make(chan struct{}), logPath: filepath.Join(tmp, "rclone.log")}
	args := append([]string{"serve", "http", ":ftp:", "--addr", rc.addr, "--config", conf}, rcloneFlags...)
	rc.cmd = exec.Command("rclone", args...)
	// The remote in the environment, so that no password is on the
	// command line, obscured or not.
	rc.cmd.Env = append(childEnv(), "RCLONE_FTP_HOST="+host, "RCLONE_FTP_PORT="+port,
		"RCLONE_FTP_USER="+srv.User, "RCLONE_FTP_PASS="+strings.TrimSpace(string(out)))
	logFile, err := os.Create(rc.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	rc.cmd.Stdout, rc.cmd.Stderr = logFile, logFile
	rc.cmd.SysProcAttr = childAttr()
	if err := rc.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { rc.cmd.Wait(); close(rc.done) }()
	c := &http.Client{Timeout: 5 * time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := c.Get(rc.url("/"))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return rc, nil
			}
			err = fmt.Errorf("GET /: %s", resp.Status)
		}
		select {
		case <-rc.done:
			return nil, fmt.Errorf("rclone serve http exited: %s", fileTail(rc.logPath))
		case <-ctx.Done():
			rc.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			rc.stop()
			return nil, fmt.Errorf("rclone serve http not ready within 30s: %v; log: %s", err, fileTail(rc.logPath))
		}
	}
}

func (rc *rcloneServer) url(path string) string { return "http://" + rc.addr + path }

func (rc *rcloneServer) stop() {
	_ = syscall.Kill(-rc.cmd.Process.Pid, syscall.SIGKILL)
	<-rc.done
}
