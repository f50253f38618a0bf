package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
)

// demoServer is the embedded FTP server behind --demo: ftpserverlib serving
// one local directory on 127.0.0.1, with a login made up for this run.
type demoServer struct {
	dir      string
	removeAt bool // dir was made for this run and goes with it
	user     string
	password string
	addr     string // "127.0.0.1:port" of the control listener
	srv      *ftpserver.FtpServer
	served   chan error
}

// startDemo serves dir (a fresh temporary directory when dir is "") over
// FTP on 127.0.0.1 and returns once the server is listening. An empty
// directory is seeded with a few sample files first. Close stops it.
func startDemo(dir string, logger *slog.Logger) (*demoServer, error) {
	d := &demoServer{served: make(chan error, 1)}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "ftpgw-demo-")
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		dir, d.removeAt = tmp, true
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		d.removeDir()
		return nil, fmt.Errorf("demo: %w", err)
	}
	d.dir = abs
	if err := seedDemoDir(d.dir); err != nil {
		d.removeDir()
		return nil, fmt.Errorf("demo: seeding %s: %w", d.dir, err)
	}
	d.user, d.password = "demo-"+randomHex(4), randomHex(16)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		d.removeDir()
		return nil, fmt.Errorf("demo: %w", err)
	}
	d.addr = ln.Addr().String()
	d.srv = ftpserver.NewFtpServer(&demoDriver{
		fs:       afero.NewBasePathFs(afero.NewOsFs(), d.dir),
		user:     d.user,
		password: d.password,
		settings: &ftpserver.Settings{
			Listener:   ln,
			PublicHost: "127.0.0.1",
			Banner:     "ftpgw demo server",
			// ftpserverlib binds passive listeners to every interface; this
			// check makes them accept only the control connection's peer,
			// which is always 127.0.0.1 here.
			PasvConnectionsCheck: ftpserver.IPMatchRequired,
			DisableActiveMode:    true,
			DisableSite:          true,
		},
	})
	// The library logs every connection at Info; only its warnings are
	// worth a line next to the gateway's own logs.
	d.srv.Logger = slog.New(minLevel{logger.Handler(), slog.LevelWarn}).With("component", "demo-ftpd")
	if err := d.srv.Listen(); err != nil {
		ln.Close()
		d.removeDir()
		return nil, fmt.Errorf("demo: %w", err)
	}
	go func() { d.served <- d.srv.Serve() }()
	return d, nil
}

// startDemoUpstream starts the demo server and makes it cfg's upstream,
// warning about the upstream settings it overrides.
func startDemoUpstream(cfg *config, logger *slog.Logger) (*demoServer, error) {
	if len(cfg.demoIgnored) > 0 {
		logger.Warn("--demo ignores the configured upstream and its settings", "ignored", cfg.demoIgnored)
	}
	demo, err := startDemo(cfg.DemoDir, logger)
	if err != nil {
		return nil, err
	}
	cfg.Upstream = upstream{Addr: demo.addr, User: demo.user, Password: demo.password}
	cfg.DemoDir = demo.dir
	return demo, nil
}

// Close stops accepting FTP connections and removes the directory if it
// was made for this run. Sessions still open end when their clients quit,
// so the gateway's pool should be closed first.
func (d *demoServer) Close() error {
	err := d.srv.Stop()
	if serr := <-d.served; err == nil {
		err = serr
	}
	d.removeDir()
	return err
}

func (d *demoServer) removeDir() {
	if d.removeAt {
		os.RemoveAll(d.dir)
	}
}

// demoDriver is ftpserverlib's MainDriver for the demo: one user, one
// directory, no TLS.
type demoDriver struct {
	fs             afero.Fs
	user, password string
	settings       *ftpserver.Settings
}

func (d *demoDriver) GetSettings() (*ftpserver.Settings, error) { return d.settings, nil }

func (d *demoDriver) ClientConnected(ftpserver.ClientContext) (string, error) {
	return "ftpgw demo FTP server", nil
}

func (d *demoDriver) ClientDisconnected(ftpserver.ClientContext) {}

func (d *demoDriver) AuthUser(_ ftpserver.ClientContext, user, pass string) (ftpserver.ClientDriver, error) {
	// Both comparisons run whatever the first one says, so the time taken
	// tells nothing about which half was wrong.
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(d.user))
	okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(d.password))
	if okUser&okPass != 1 {
		return nil, errors.New("bad user or password")
	}
	return d.fs, nil
}

func (d *demoDriver) GetTLSConfig() (*tls.Config, error) {
	return nil, errors.New("TLS is not available on the demo server")
}

// The demo's sample files. sample.bin is the same on every run, so a range
// fetched today can be compared with one fetched tomorrow.
const (
	demoHello      = "Hello from ftpgw!\n"
	demoSampleSize = 1 << 20
	demoReadme     = "# Demo files\n\n" +
		"This directory is served by ftpgw's embedded demo FTP server.\n" +
		"Everything in it is reachable over HTTP under /files/.\n"
)

var demoSampleSeed = [32]byte([]byte("ftpgw demo sample.bin, seed v1.."))

// demoSample returns sample.bin's contents: 1 MiB from ChaCha8 with a fixed
// seed.
func demoSample() []byte {
	b := make([]byte, demoSampleSize)
	mrand.NewChaCha8(demoSampleSeed).Read(b)
	return b
}

// seedDemoDir writes the sample files into dir if dir is empty, and leaves
// a directory with anything in it alone.
func seedDemoDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return nil
	}
	if err := os.Mkdir(filepath.Join(dir, "docs"), 0o755); err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
	}{
		{"hello.txt", []byte(demoHello)},
		{"sample.bin", demoSample()},
		{filepath.Join("docs", "readme.md"), []byte(demoReadme)},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return err
		}
		// Dated in the past, so that the samples have settled and carry
		// an ETag from the first request (api's settle.go), and the same
		// one on every run.
		if err := os.Chtimes(p, demoSeedTime, demoSeedTime); err != nil {
			return err
		}
	}
	return nil
}

// demoSeedTime is the modification time of the sample files.
var demoSeedTime = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// printDemo tells a person who just typed "go run ./cmd/gateway --demo"
// what they have and what to try, in plain text rather than JSON.
func printDemo(w io.Writer, d *demoServer, addr net.Addr, mode authMode) {
	base := "http://" + browseHost(addr) + "/files/"
	if mode == authBasic {
		// The demo server's own account, made up for this run: with
		// Basic passthrough it is what a client logs in with.
		base = "-u " + d.user + ":" + d.password + " " + base
	}
	fmt.Fprintf(w, "\nftpgw demo: serving %s through an embedded FTP server at %s\n\n", d.dir, d.addr)
	fmt.Fprintf(w, "Try:\n")
	for _, ex := range [][2]string{
		{"curl " + base, "list the root (JSON; HTML in a browser)"},
		{"curl -O " + base + "hello.txt", "download a file"},
		{"curl -r 0-99 " + base + "sample.bin -o part.bin", "the first 100 bytes only"},
		{"curl -I " + base + "sample.bin", "headers only: size, ETag, Last-Modified"},
		{"curl -T ./local.txt " + base + "uploaded.txt", "upload (atomic: temporary name, then rename)"},
		{"curl -X DELETE " + base + "uploaded.txt", "delete"},
	} {
		fmt.Fprintf(w, "  %-72s # %s\n", ex[0], ex[1])
	}
	switch mode {
	case authToken:
		fmt.Fprintf(w, "\nEvery /files/ request needs a token: add -H 'Authorization: Bearer <token>'.\n")
	case authBasic:
		fmt.Fprintf(w, "\nEvery /files/ request logs in to the FTP server as its HTTP Basic user (-u): here the demo server's, %s.\n", d.user)
	}
	fmt.Fprintf(w, "\nPress Ctrl-C to stop.\n\n")
}

// browseHost is the host:port a local client would use to reach addr: an
// unspecified address ("", 0.0.0.0, ::) becomes localhost.
func browseHost(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// minLevel raises a handler's threshold, for a library that is chattier
// than the rest of the logs.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(attrs), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
