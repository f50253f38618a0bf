package ftpcore

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// These tests pin down what each real server does with the upload variants
// and the checksum commands, so that a package upgrade that changes one
// shows up here. They skip without root and the servers, and fail instead
// when FTPGW_REQUIRE_REAL_SERVERS=1.

// The files every server starts with, and what is sent to them.
const (
	appeBase = "hello, "
	appeData = "world\n"

	restBase   = "0123456789"
	restOffset = 4
	restData   = "abc"
	// restPastEnd is a REST offset beyond the end of restBase.
	restPastEnd = 20
)

// uploadsCase is one server's answers: every field is the outcome observed
// on that server, a zero code meaning success.
type uploadsCase struct {
	kind realftpd.Kind

	// appended is appeBase on disk after APPE of appeData.
	appended string

	// resumed is restBase on disk after REST restOffset and STOR of
	// restData.
	resumed string
	// pastEndCode is the code of the *Error for REST restPastEnd and STOR
	// of restData on restBase, 0 when the upload succeeds; pastEnd is the
	// file on disk afterwards.
	pastEndCode int
	pastEnd     string

	// stouCode is the code of the *Error STOU fails with, 0 when the
	// server accepts it; stouPrelim matches the text of its preliminary
	// reply, in which the server names the file (Upload.Name).
	stouCode   int
	stouPrelim *regexp.Regexp

	// canResume is Conn.CanResume, from FEAT's REST STREAM.
	canResume bool
	// algos is Conn.HashAlgorithms, from FEAT.
	algos []string
}

var uploadsCases = []uploadsCase{
	{
		kind: realftpd.Vsftpd,
		// 150 "Ok to send data.", 226 "Transfer complete.".
		appended: appeBase + appeData,
		// 350 "Restart position accepted (4).": vsftpd writes from the
		// offset and leaves what lies beyond the new data.
		resumed: "0123abc789",
		// Accepted too: the gap up to the offset reads as zero bytes.
		pastEnd: restBase + strings.Repeat("\x00", restPastEnd-len(restBase)) + restData,
		// 150 "FILE: STOU.1" in a directory without one; the next is
		// STOU.2.
		stouPrelim: regexp.MustCompile(`^FILE: STOU\.1$`),
		// FEAT: EPSV, MDTM, PASV, REST STREAM, SIZE, TVFS.
		canResume: true,
		algos:     nil,
	},
	{
		kind: realftpd.PureFTPd,
		// 150 "Accepted data connection", 226 "File successfully
		// transferred" with a speed line.
		appended: appeBase + appeData,
		// 350 "Restarting at 4": pure-ftpd truncates the file at the
		// offset, so what lay beyond the new data is gone.
		resumed: "0123abc",
		// Accepted ("350 Restarting at 20", 226), but the data lands at
		// the end of the file: the offset is silently cut to the size.
		pastEnd: restBase + restData,
		// A two-line 150: "FILE: pureftpd.<hex>.<hex>.0000", then
		// "Accepted data connection"; the last field counts up.
		stouPrelim: regexp.MustCompile(`^FILE: pureftpd\.[0-9a-f]+\.[0-9a-f]+\.0000\nAccepted data connection$`),
		// FEAT lists REST STREAM and no checksum.
		canResume: true,
		algos:     nil,
	},
	{
		kind: realftpd.ProFTPD,
		// 150 "Opening BINARY mode data connection for a.txt", 226
		// "Transfer complete".
		appended: appeBase + appeData,
		// 350 "Restarting at 4. Send STORE or RETRIEVE to initiate
		// transfer": like vsftpd, the tail beyond the new data stays.
		resumed: "0123abc789",
		// REST 20 gets its 350, then STOR "554 REST: invalid r.txt
		// argument"; the file is left alone.
		pastEndCode: 554, // "invalid REST parameter", RFC 3659 §5.4
		pastEnd:     restBase,
		// 150 "FILE: ftp" and six characters (mkstemp's template).
		stouPrelim: regexp.MustCompile(`^FILE: ftp[0-9A-Za-z]{6}$`),
		// FEAT, with realftpd's mod_digest: "HASH
		// CRC32;MD5;SHA-1*;SHA-256;SHA-512;" (SHA-1 selected), and
		// MD5, XCRC, XMD5, XSHA, XSHA1, XSHA256, XSHA512.
		canResume: true,
		algos:     []string{HashCRC32, HashMD5, HashSHA1, HashSHA256, HashSHA512},
	},
}

// TestRealUploads runs APPE, REST+STOR and STOU on each server, checks the
// files on disk, and reads the resume and checksum features from FEAT.
// Where the server offers checksums, each uploaded file's digests must
// equal Go's of the file on disk.
func TestRealUploads(t *testing.T) {
	for _, tt := range uploadsCases {
		t.Run(string(tt.kind), func(t *testing.T) {
			t.Parallel()
			s := realftpd.Start(t, tt.kind)
			s.WriteFile(t, "a.txt", []byte(appeBase))
			s.WriteFile(t, "r.txt", []byte(restBase))
			s.WriteFile(t, "past.txt", []byte(restBase))
			var log traceLog
			c := dialAbortReal(t, s, &log)
			defer func() {
				if t.Failed() {
					t.Logf("trace:\n%s", log.String())
				}
			}()

			if got := c.CanResume(); got != tt.canResume {
				t.Errorf("CanResume() = %v, want %v (FEAT %v)", got, tt.canResume, c.Features())
			}
			if got := c.HashAlgorithms(); !slices.Equal(got, tt.algos) {
				t.Errorf("HashAlgorithms() = %q, want %q (FEAT %v)", got, tt.algos, c.Features())
			}

			t.Run("APPE", func(t *testing.T) {
				u, err := c.Appe(testCtx(t), "a.txt")
				if err != nil {
					t.Fatal(err)
				}
				upload(t, u, appeData)
				wantFile(t, s, "a.txt", tt.appended)
				checkHashes(t, c, s, "a.txt", tt.algos)
			})

			t.Run("REST+STOR", func(t *testing.T) {
				u, err := c.Stor(testCtx(t), "r.txt", restOffset)
				if err != nil {
					t.Fatal(err)
				}
				upload(t, u, restData)
				wantFile(t, s, "r.txt", tt.resumed)
				checkHashes(t, c, s, "r.txt", tt.algos)
			})

			t.Run("REST past the end", func(t *testing.T) {
				u, err := c.Stor(testCtx(t), "past.txt", restPastEnd)
				if err == nil {
					if _, err = u.Write([]byte(restData)); err == nil {
						err = u.Close()
					} else {
						u.Abort(err)
					}
				}
				wantCode(t, err, tt.pastEndCode)
				wantFile(t, s, "past.txt", tt.pastEnd)
				if !c.Usable() {
					t.Fatalf("session unusable after the refused STOR: %v", c.Err())
				}
			})

			t.Run("STOU", func(t *testing.T) {
				u, err := c.Stou(testCtx(t))
				if tt.stouCode != 0 {
					wantCode(t, err, tt.stouCode)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				prelim := u.prelim.Msg()
				name := u.Name()
				upload(t, u, "unique\n")
				if !tt.stouPrelim.MatchString(prelim) {
					t.Errorf("STOU preliminary reply %q does not match %v", prelim, tt.stouPrelim)
				}
				if name == "" || strings.ContainsAny(name, "/\n") {
					t.Fatalf("Name() = %q, want a bare file name", name)
				}
				if !strings.HasPrefix(prelim, "FILE: "+name) {
					t.Errorf("Name() = %q, not what the reply %q names", name, prelim)
				}
				wantFile(t, s, name, "unique\n")
				checkHashes(t, c, s, name, tt.algos)
			})

			if tt.algos == nil {
				t.Run("no checksums", func(t *testing.T) {
					sent := c.Commands()
					_, err := c.Hash(testCtx(t), "a.txt", HashSHA256)
					wantCode(t, err, StatusNotImplemented)
					if n := c.Commands() - sent; n != 0 {
						t.Errorf("Hash sent %d commands to a server that offers no checksum", n)
					}
				})
			}
		})
	}
}

// TestRealHashSwitching asks proftpd (mod_digest) for the digest of one
// file in several algorithms on one session, back and forth, and checks
// each against Go's and the OPTS HASH that Hash sends before it.
func TestRealHashSwitching(t *testing.T) {
	t.Parallel()
	s := realftpd.Start(t, realftpd.ProFTPD)
	data := testData(1<<20 + 7) // more than mod_digest reads at once
	s.WriteFile(t, "hashed.bin", data)
	var log traceLog
	c := dialAbortReal(t, s, &log)

	// FEAT marks SHA-1 as selected, so the first SHA-1 needs no OPTS;
	// a repeated algorithm needs none either.
	steps := []struct {
		algo     string
		wantOPTS bool
	}{
		{HashSHA1, false},
		{HashSHA256, true},
		{HashSHA256, false},
		{HashSHA1, true},
		{HashMD5, true},
		{HashSHA512, true},
		{HashCRC32, true},
		{HashSHA256, true},
	}
	var want []string
	start := len(s.Commands())
	for _, st := range steps {
		got, err := c.Hash(testCtx(t), "hashed.bin", st.algo)
		if err != nil {
			t.Fatalf("Hash %s: %v\ntrace:\n%s", st.algo, err, log.String())
		}
		if w := goDigest(st.algo, data); got != w {
			t.Errorf("Hash %s = %s, want %s", st.algo, got, w)
		}
		if st.wantOPTS {
			want = append(want, "OPTS HASH "+st.algo)
		}
		want = append(want, "HASH hashed.bin")
	}
	// proftpd logs a command once it has answered it. Its core hands
	// "OPTS X arg" on to the module as a command "OPTS_X arg", which the
	// log shows too, just before the OPTS itself: leave those out.
	var got []string
	for _, cmd := range s.Commands()[start:] {
		if !strings.HasPrefix(cmd, "OPTS_") {
			got = append(got, cmd)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRealHashCacheStale pins down mod_digest's per-session DigestCache,
// which realftpd leaves at its default (on): a digest is cached by path,
// size and modification time in whole seconds (not inode), so a file
// rewritten with the same size within the same second gets the old digest
// on a session that asked before. A new session, with an empty cache,
// computes it afresh.
func TestRealHashCacheStale(t *testing.T) {
	t.Parallel()
	s := realftpd.Start(t, realftpd.ProFTPD)
	oldData, newData := []byte("hello world"), []byte("HELLO WORLD")
	s.WriteFile(t, "f.txt", oldData)
	fi, err := os.Stat(s.Path("f.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var log traceLog
	c := dialAbortReal(t, s, &log)
	if got, err := c.Hash(testCtx(t), "f.txt", HashSHA256); err != nil || got != goDigest(HashSHA256, oldData) {
		t.Fatalf("Hash = %s, %v; want %s", got, err, goDigest(HashSHA256, oldData))
	}
	// Same size and, through Chtimes, the same second: what a rewrite
	// right after the first HASH looks like.
	s.WriteFile(t, "f.txt", newData)
	if err := os.Chtimes(s.Path("f.txt"), fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Hash(testCtx(t), "f.txt", HashSHA256); err != nil || got != goDigest(HashSHA256, oldData) {
		t.Errorf("same session: Hash = %s, %v; want the stale %s", got, err, goDigest(HashSHA256, oldData))
	}
	// Not cached for this algorithm yet on this session: computed afresh.
	if got, err := c.Hash(testCtx(t), "f.txt", HashMD5); err != nil || got != goDigest(HashMD5, newData) {
		t.Errorf("same session, other algorithm: Hash = %s, %v; want %s", got, err, goDigest(HashMD5, newData))
	}
	c2 := dialAbortReal(t, s, &log)
	if got, err := c2.Hash(testCtx(t), "f.txt", HashSHA256); err != nil || got != goDigest(HashSHA256, newData) {
		t.Errorf("new session: Hash = %s, %v; want %s", got, err, goDigest(HashSHA256, newData))
	}
}

// upload writes data to u and closes it, failing the test on any error.
func upload(t *testing.T, u *Upload, data string) {
	t.Helper()
	if _, err := u.Write([]byte(data)); err != nil {
		u.Abort(err)
		t.Fatal(err)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
}

// wantFile checks the file rel under the server's Root.
func wantFile(t *testing.T, s *realftpd.Server, rel, want string) {
	t.Helper()
	got, err := os.ReadFile(s.Path(rel))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte(want)) {
		t.Errorf("%s on disk = %q, want %q", rel, got, want)
	}
}

// wantCode checks that err is an *Error with code, or nil for code 0.
func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	if code == 0 {
		if err != nil {
			t.Errorf("err = %v, want success", err)
		}
		return
	}
	var fe *Error
	if !errors.As(err, &fe) || fe.Code != code {
		t.Errorf("err = %v, want an *Error with code %d", err, code)
	}
}

// checkHashes compares the server's digests of rel with Go's of the file
// on disk, for the SHA-256, SHA-1 and MD5 among algos.
func checkHashes(t *testing.T, c *Conn, s *realftpd.Server, rel string, algos []string) {
	t.Helper()
	data, err := os.ReadFile(s.Path(rel))
	if err != nil {
		t.Fatal(err)
	}
	for _, algo := range []string{HashSHA256, HashSHA1, HashMD5} {
		if !slices.Contains(algos, algo) {
			continue
		}
		got, err := c.Hash(testCtx(t), rel, algo)
		if err != nil {
			t.Errorf("Hash %s %s: %v", rel, algo, err)
			continue
		}
		if want := goDigest(algo, data); got != want {
			t.Errorf("Hash %s %s = %s, want %s", rel, algo, got, want)
		}
	}
}

// goDigest is data's digest with algo in lower-case hex, as Hash returns it.
func goDigest(algo string, data []byte) string {
	var sum []byte
	switch algo {
	case HashSHA256:
		s := sha256.Sum256(data)
		sum = s[:]
	case HashSHA512:
		s := sha512.Sum512(data)
		sum = s[:]
	case HashSHA1:
		s := sha1.Sum(data)
		sum = s[:]
	case HashMD5:
		s := md5.Sum(data)
		sum = s[:]
	case HashCRC32:
		return fmt.Sprintf("%08x", crc32.ChecksumIEEE(data))
	default:
		panic("goDigest: unknown algorithm " + algo)
	}
	return hex.EncodeToString(sum)
}
