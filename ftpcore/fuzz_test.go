package ftpcore

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// Seeds for the fuzz targets are real server output where we have it
// (vsftpd 3.0, ProFTPD 1.3, Pure-FTPd 1.0, as captured) plus the edge
// cases of the table tests. Crashers the fuzzer finds are written to
// testdata/fuzz/<target>/ and then run by plain go test.

func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"220 (vsFTPd 3.0.5)\r\n",
		"331 Please specify the password.\r\n230 Login successful.\r\n",
		"211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End\r\n",
		"257 \"/home/ftpgwtest\" is the current directory\r\n",
		"229 Entering Extended Passive Mode (|||10042|)\r\n",
		"227 Entering Passive Mode (127,0,0,1,39,16).\r\n",
		"150 Opening BINARY mode data connection for a.txt (6 bytes).\r\n226 Transfer complete.\r\n",
		"250-Listing /a\r\n type=file;size=1;modify=20231124041200; /a\r\n250 End\r\n",
		"123-First line\r\nSecond line\r\n  234 A line beginning with numbers\r\n123 The last line\r\n",
		"421 Timeout.\r\n",
		"200\r\n",
		"200\n",
		"211-x\n211\n",
		"garbage\r\n",
		"211-unterminated\r\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		// A small buffer and size cap as well as the defaults, so the
		// limits are reached often.
		for _, lim := range []struct{ buf, max int }{{16, 64}, {64, 256}, {DefaultMaxReplyLine, DefaultMaxReplySize}} {
			br := bufio.NewReaderSize(strings.NewReader(in), lim.buf)
			for i := 0; ; i++ {
				if i > len(in) {
					t.Fatalf("more replies than input bytes")
				}
				rep, err := readReply(br, lim.max)
				if err != nil {
					var pe *ProtocolError
					if !errors.As(err, &pe) && !errors.Is(err, io.EOF) {
						t.Fatalf("readReply error %v (%T), want *ProtocolError or EOF", err, err)
					}
					break
				}
				if rep.Code < 100 || rep.Code > 599 {
					t.Fatalf("Code = %d, outside 100..599", rep.Code)
				}
				if len(rep.Lines) == 0 || len(rep.Lines) > maxReplyLines+1 {
					t.Fatalf("%d lines", len(rep.Lines))
				}
				size := 0
				for _, l := range rep.Lines {
					if strings.Contains(l, "\n") {
						t.Fatalf("line %q contains LF", l)
					}
					if len(l) > lim.buf {
						t.Fatalf("line of %d bytes through a %d-byte buffer", len(l), lim.buf)
					}
					size += len(l)
				}
				if size > lim.max+lim.buf {
					t.Fatalf("reply of %d bytes, cap %d", size, lim.max)
				}
			}
		}
	})
}

func FuzzParseEPSV(f *testing.F) {
	for _, s := range []string{
		"Entering Extended Passive Mode (|||10042|).",
		"Entering Extended Passive Mode (|||6446|)",
		"(!!!21!)",
		"(|||0|)",
		"(|||65536|)",
		"(|||+21|)",
		"(||||)",
		"(|1|127.0.0.1|6446|)",
		"|||6446|",
		")(",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		port, err := parseEPSV(msg)
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T), want *ProtocolError", err, err)
			}
			return
		}
		if port < 1 || port > 65535 {
			t.Fatalf("parseEPSV(%q) = %d, outside 1..65535", msg, port)
		}
		if again, err := parseEPSV(fmt.Sprintf("(|||%d|)", port)); err != nil || again != port {
			t.Fatalf("round trip of %d = %d, %v", port, again, err)
		}
	})
}

func FuzzParsePASV(f *testing.F) {
	for _, s := range []string{
		"Entering Passive Mode (127,0,0,1,39,16).",
		"Entering Passive Mode (127, 0, 0, 1, 200, 10)",
		"Entering Passive Mode 192,168,1,2,4,1",
		"=10,1,2,3,4,1",
		"(127,0,0,1,0,0)",
		"(127,0,0,256,4,1)",
		"(127,0,0,1,4)",
		"(127,,0,1,4,1)",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		ip, port, err := parsePASV(msg)
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T), want *ProtocolError", err, err)
			}
			return
		}
		if port < 1 || port > 65535 {
			t.Fatalf("parsePASV(%q) port = %d, outside 1..65535", msg, port)
		}
		if ip.To4() == nil {
			t.Fatalf("parsePASV(%q) ip = %v, not IPv4", msg, ip)
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"20231124041200",
		"20231124041200.5",
		"20231124041200.123456789",
		"20231124041200.1234567890",
		"20161231235960",
		"20230230000000",
		"20240229000000",
		"2023112404120",
		"2023112404120a",
		"00000101000000",
		"99991231235959.999999999",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTime(s)
		if err != nil {
			return
		}
		if tm.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) in %v, want UTC", s, tm.Location())
		}
		if len(s) < 14 || len(s) > 24 {
			t.Fatalf("ParseTime(%q) accepted %d bytes", s, len(s))
		}
		// Without a leap second the value prints back as it was read.
		if s[12:14] != "60" {
			if got := tm.Format("20060102150405"); got != s[:14] {
				t.Fatalf("ParseTime(%q) = %v, formats as %s", s, tm, got)
			}
		}
	})
}

func FuzzParseMLSxLine(f *testing.F) {
	for _, s := range []string{
		"type=file;size=6;modify=20231124041200; a.txt",
		"type=dir;modify=20231124041900; sub dir",
		"type=cdir;modify=20231124041200;perm=flcdmpe; .",
		"type=pdir;modify=20231124041200; ..",
		"modify=20231124041200;perm=adfr;size=7;type=OS.unix=slink:/srv/target;unique=FD00U1; link",
		"type=file;size=1024;modify=20231124041200;UNIX.mode=0644;UNIX.uid=1000;UNIX.gid=1000;unique=801g2c; data.bin",
		"Type=FILE;Size=12;Modify=20231124041200; x",
		"type=file;size=1; name; with; semis",
		"type=file;size=6;",
		"type=file;size=-1; x",
		"typefile; x",
		" bare",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, err := ParseMLSxLine(line)
		if err != nil {
			return
		}
		if e.Name == "" {
			t.Fatalf("ParseMLSxLine(%q) ok with an empty name", line)
		}
		if e.Size < -1 {
			t.Fatalf("ParseMLSxLine(%q) size %d", line, e.Size)
		}
		if e.Type < EntryFile || e.Type > EntryOther {
			t.Fatalf("ParseMLSxLine(%q) type %d", line, e.Type)
		}
	})
}

func FuzzParseUnixLine(f *testing.F) {
	for _, s := range []string{
		"-rw-r--r--    1 1000     1000            6 Nov 24 04:12 a.txt",
		"drwxr-xr-x    2 1000     1000         4096 Nov 24 04:19 sub dir",
		"-rw-r--r--    1 1000     1000         1024 Jan  3  2023 old.bin",
		"lrwxrwxrwx 1 0 0 7 Nov 24 04:12 link -> target",
		"crw-rw-rw- 1 0 0 1, 3 Nov 24 04:12 null",
		"-rw-r--r--   1 ftp          1234 Nov 24 04:12 nogroup.txt",
		"-rw-r--r--    1 jun      jun             6 Nov 24 04:12 a.txt",
		"-rw-r--r--    1 0 0 6 Nov 24 04:12   lead",
		"-rw-r--r--    1 0 0 6 Nov 24 04:12 trail  ",
		"-rw-r--r--    1 0 0 6 Feb 29 10:00 leap",
		"-rw-r--r--    1 0 0 6 Nov 24 04:12 ",
		"total 8",
		"11-24-23  04:12AM                    6 a.txt",
		"",
	} {
		f.Add(s, int64(1701345600)) // 2023-11-30 12:00 UTC
	}
	f.Add("-rw-r--r--    1 0 0 6 Jan  1 00:30 f", int64(1704063600)) // 2023-12-31 23:00 UTC
	f.Fuzz(func(t *testing.T, line string, unix int64) {
		// Keep now where time.Time and the year arithmetic are sane.
		now := time.Unix(unix%(1<<35), 0).UTC()
		e, ok, err := ParseUnixLine(line, now)
		if err != nil {
			if ok {
				t.Fatalf("ParseUnixLine(%q) ok with error %v", line, err)
			}
			return
		}
		if !ok {
			return
		}
		if e.Name == "" {
			t.Fatalf("ParseUnixLine(%q) ok with an empty name", line)
		}
		if e.Size < -1 {
			t.Fatalf("ParseUnixLine(%q) size %d", line, e.Size)
		}
		if e.ModTime.IsZero() || e.ModTime.Location() != time.UTC {
			t.Fatalf("ParseUnixLine(%q) ModTime %v", line, e.ModTime)
		}
		if !strings.HasSuffix(line, e.Name) && e.Type != EntryLink {
			t.Fatalf("ParseUnixLine(%q) name %q is not the end of the line", line, e.Name)
		}
	})
}

// FuzzStatReply reads a reply as Locate reads STAT's (readReplyKeep,
// keeping the lines that mention the name) and looks for the name's line
// in it (statLine): the kept lines stay within their cap, and a line
// found names the path, as a link only if the line is one.
func FuzzStatReply(f *testing.F) {
	for _, s := range []string{
		"213-Status follows:\r\nlrwxrwxrwx    1 1001     1001            6 Nov 30 18:54 rel -> in.txt\r\n213 End of status\r\n",
		"213-STAT\r\nlrwxrwxrwx    1 1001       ftpgwtest           6 Nov 30 18:54 /pub/rel -> in.txt\r\n213 End.\r\n",
		"213-Status of /r/pub/rel:\r\n lrwxrwxrwx   1 ftpgwtest ftpgwtest        6 Nov 30 18:54 /r/pub/rel -> in.txt\r\n213 End of status\r\n",
		"213-Status follows:\r\n-rw-r--r--    1 1001     1001            7 Nov 30 18:54 rel\r\n213 End of status\r\n",
		"212-Status of /r/pub:\r\n drwxr-xr-x   2 u u     4096 Nov 30 18:55 .\r\n -rw-r--r--   1 u u 5 Nov 30 18:55 rel\r\n212 End of status\r\n",
		"213-Status follows:\r\nlrwxrwxrwx 1 0 0 5 Nov 24 04:12 rel -> y -> in.txt\r\n213 End\r\n",
		"213-STAT\r\n213 End.\r\n",
		"450 /r/pub/rel: No such file or directory\r\n",
	} {
		f.Add(s, "/pub/rel", true)
		f.Add(s, "/pub/rel", false)
	}
	f.Fuzz(func(t *testing.T, in, path string, byBase bool) {
		const buf, max, total = 256, 1024, 8192
		base := baseName(path)
		br := bufio.NewReaderSize(strings.NewReader(in), buf)
		rep, err := readReplyKeep(br, max, total, func(l []byte) bool { return strings.Contains(string(l), base) })
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) && !errors.Is(err, io.EOF) {
				t.Fatalf("readReplyKeep error %v (%T), want *ProtocolError or EOF", err, err)
			}
			return
		}
		size := 0
		for i, l := range rep.Lines {
			size += len(l)
			if i > 0 && i < len(rep.Lines)-1 && !strings.Contains(l, base) {
				t.Fatalf("kept line %q does not mention %q", l, base)
			}
		}
		if size > max+buf {
			t.Fatalf("kept %d bytes, cap %d", size, max)
		}
		e, ok := statLine(rep, path, base, byBase)
		if !ok {
			return
		}
		if e.Name != base {
			t.Fatalf("statLine named %q, want %q", e.Name, base)
		}
		if e.Target != "" && e.Type != EntryLink {
			t.Fatalf("statLine gave a %v a target %q", e.Type, e.Target)
		}
	})
}
