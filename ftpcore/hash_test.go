package ftpcore

import (
	"errors"
	"strings"
	"testing"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

func TestHash(t *testing.T) {
	const sha256hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	const md5hex = "d41d8cd98f00b204e9800998ecf8427e"
	t.Run("HASH with OPTS", func(t *testing.T) {
		srv := ftptest.NewServer(t, ftptest.WithFeatures("EPSV", "SIZE", "HASH SHA-1*;SHA-256;MD5"))
		srv.Handle("OPTS", func(c *ftptest.Conn, arg string) {
			if strings.HasPrefix(strings.ToUpper(arg), "HASH ") {
				c.Reply(200, strings.TrimPrefix(arg, "HASH "))
				return
			}
			c.Default("OPTS", arg)
		})
		srv.Handle("HASH", func(c *ftptest.Conn, arg string) {
			c.Reply(213, "SHA-256 0-0 "+strings.ToUpper(sha256hex)+" "+arg)
		})
		c := dialTest(t, srv)
		if got := c.HashAlgorithms(); strings.Join(got, ",") != "SHA-1,SHA-256,MD5" {
			t.Errorf("HashAlgorithms %v", got)
		}
		for i := 0; i < 2; i++ {
			h, err := c.Hash(t.Context(), "/empty file", "sha-256")
			if err != nil || h != sha256hex {
				t.Fatalf("Hash: %q %v", h, err)
			}
		}
		opts := 0
		for _, cmd := range srv.Commands() {
			if cmd == "OPTS HASH SHA-256" {
				opts++
			}
		}
		if opts != 1 {
			t.Errorf("OPTS HASH sent %d times, want once: %v", opts, srv.Commands())
		}
	})
	t.Run("XMD5", func(t *testing.T) {
		srv := ftptest.NewServer(t, ftptest.WithFeatures("EPSV", "XMD5", "XCRC"))
		srv.Handle("XMD5", func(c *ftptest.Conn, arg string) { c.Reply(250, md5hex) })
		c := dialTest(t, srv)
		if got := c.HashAlgorithms(); strings.Join(got, ",") != "MD5,CRC32" {
			t.Errorf("HashAlgorithms %v", got)
		}
		h, err := c.Hash(t.Context(), "/f", HashMD5)
		if err != nil || h != md5hex {
			t.Fatalf("Hash: %q %v", h, err)
		}
		_, err = c.Hash(t.Context(), "/f", HashSHA256)
		if ReplyCode(err) != StatusNotImplemented {
			t.Errorf("unsupported algorithm: %v", err)
		}
	})
	t.Run("garbage reply", func(t *testing.T) {
		srv := ftptest.NewServer(t, ftptest.WithFeatures("EPSV", "XSHA1"))
		srv.Handle("XSHA1", func(c *ftptest.Conn, arg string) { c.Reply(250, "not a digest") })
		c := dialTest(t, srv)
		_, err := c.Hash(t.Context(), "/f", HashSHA1)
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			t.Fatalf("want a ProtocolError, got %v", err)
		}
		if !c.Usable() {
			t.Error("a bad digest reply left the Conn unusable; the exchange itself completed")
		}
	})
	t.Run("HASH replies", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			lines []string
			ok    bool
		}{
			{"proftpd's", []string{"Computing SHA-256 digest", "SHA-256 0-0 " + sha256hex + " /f"}, true},
			{"another algorithm of that length", []string{"SHA3-256 0-0 " + sha256hex + " /f"}, false},
			{"the digest in the path only", []string{"SHA-256 0-0 x /" + sha256hex}, false},
			{"no algorithm", []string{sha256hex}, false},
		} {
			srv := ftptest.NewServer(t, ftptest.WithFeatures("EPSV", "HASH SHA-256*;SHA3-256"))
			srv.Handle("HASH", func(c *ftptest.Conn, arg string) { c.ReplyLines(213, tc.lines...) })
			c := dialTest(t, srv)
			h, err := c.Hash(t.Context(), "/f", HashSHA256)
			var pe *ProtocolError
			switch {
			case tc.ok && (err != nil || h != sha256hex):
				t.Errorf("%s: %q %v", tc.name, h, err)
			case !tc.ok && !errors.As(err, &pe):
				t.Errorf("%s: %q %v, want a ProtocolError", tc.name, h, err)
			case !c.Usable():
				t.Errorf("%s: the Conn is unusable", tc.name)
			}
		}
	})
	t.Run("no checksum support", func(t *testing.T) {
		srv := ftptest.NewServer(t)
		c := dialTest(t, srv)
		before := len(srv.Commands())
		if _, err := c.Hash(t.Context(), "/f", HashSHA256); ReplyCode(err) != StatusNotImplemented {
			t.Errorf("Hash: %v", err)
		}
		if len(srv.Commands()) != before {
			t.Error("Hash sent a command to a server that offers no checksums")
		}
	})
}
