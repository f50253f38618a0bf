package ftpcore

import (
	"errors"
	"net"
	"testing"
	"time"
)

func TestParseEPSV(t *testing.T) {
	tests := []struct {
		name    string
		msg     string // reply text after "229 "
		want    int
		wantErr bool
	}{
		{name: "vsftpd", msg: "Entering Extended Passive Mode (|||10042|).", want: 10042},
		{name: "proftpd", msg: "Entering Extended Passive Mode (|||6446|)", want: 6446},
		{name: "bang delimiter", msg: "Entering Extended Passive Mode (!!!21!)", want: 21},
		{name: "tilde delimiter", msg: "(~~~65535~)", want: 65535},
		{name: "port 1", msg: "(|||1|)", want: 1},
		{name: "leading zeros", msg: "(|||021|)", want: 21},
		{name: "text after", msg: "ok (|||2121|) go ahead", want: 2121},
		{name: "port 0", msg: "(|||0|)", wantErr: true},
		{name: "port 65536", msg: "(|||65536|)", wantErr: true},
		{name: "huge port", msg: "(|||99999999999999999999|)", wantErr: true},
		{name: "non-numeric", msg: "(|||abc|)", wantErr: true},
		{name: "negative", msg: "(|||-1|)", wantErr: true},
		{name: "plus sign", msg: "(|||+21|)", wantErr: true},
		{name: "space in port", msg: "(||| 21|)", wantErr: true},
		{name: "empty port", msg: "(||||)", wantErr: true},
		{name: "missing parens", msg: "Entering Extended Passive Mode |||6446|", wantErr: true},
		{name: "missing close", msg: "(|||6446|", wantErr: true},
		{name: "reversed parens", msg: ")|||6446|(", wantErr: true},
		{name: "two delimiters", msg: "(||6446|)", wantErr: true},
		{name: "mixed delimiters", msg: "(|||6446!)", wantErr: true},
		{name: "space delimiter", msg: "(   6446 )", wantErr: true},
		{name: "address given", msg: "(|1|127.0.0.1|6446|)", wantErr: true},
		{name: "empty", msg: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEPSV(tt.msg)
			if tt.wantErr {
				var pe *ProtocolError
				if !errors.As(err, &pe) {
					t.Fatalf("parseEPSV(%q) = %d, %v; want *ProtocolError", tt.msg, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseEPSV(%q) = %d, %v; want %d", tt.msg, got, err, tt.want)
			}
		})
	}
}

func TestParsePASV(t *testing.T) {
	tests := []struct {
		name     string
		msg      string // reply text after "227 "
		wantIP   string
		wantPort int
		wantErr  bool
	}{
		{name: "vsftpd", msg: "Entering Passive Mode (127,0,0,1,39,16).", wantIP: "127.0.0.1", wantPort: 39<<8 | 16},
		{name: "spaces", msg: "Entering Passive Mode (127, 0, 0, 1, 200, 10)", wantIP: "127.0.0.1", wantPort: 200<<8 | 10},
		{name: "no parens", msg: "Entering Passive Mode 192,168,1,2,4,1", wantIP: "192.168.1.2", wantPort: 1025},
		{name: "equals sign", msg: "=10,1,2,3,4,1", wantIP: "10.1.2.3", wantPort: 1025},
		{name: "max", msg: "(255,255,255,255,255,255)", wantIP: "255.255.255.255", wantPort: 65535},
		{name: "port 1", msg: "(127,0,0,1,0,1)", wantIP: "127.0.0.1", wantPort: 1},
		{name: "unspecified host", msg: "(0,0,0,0,4,1)", wantIP: "0.0.0.0", wantPort: 1025},
		{name: "fewer numbers", msg: "Entering Passive Mode (127,0,0,1,4)", wantErr: true},
		{name: "more numbers", msg: "(127,0,0,1,4,1,2)", wantErr: true},
		{name: "host byte over 255", msg: "(127,0,0,256,4,1)", wantErr: true},
		{name: "port byte over 255", msg: "(127,0,0,1,256,1)", wantErr: true},
		{name: "huge number", msg: "(127,0,0,1,99999999999999999999,1)", wantErr: true},
		{name: "port 0", msg: "(127,0,0,1,0,0)", wantErr: true},
		{name: "empty number", msg: "(127,,0,1,4,1)", wantErr: true},
		{name: "space inside number", msg: "(127,0,0,1,4 1,1)", wantErr: true},
		{name: "no numbers", msg: "Entering Passive Mode", wantErr: true},
		{name: "empty", msg: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip, port, err := parsePASV(tt.msg)
			if tt.wantErr {
				var pe *ProtocolError
				if !errors.As(err, &pe) {
					t.Fatalf("parsePASV(%q) = %v, %d, %v; want *ProtocolError", tt.msg, ip, port, err)
				}
				return
			}
			if err != nil || !ip.Equal(net.ParseIP(tt.wantIP)) || port != tt.wantPort {
				t.Fatalf("parsePASV(%q) = %v, %d, %v; want %s, %d", tt.msg, ip, port, err, tt.wantIP, tt.wantPort)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	date := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "20231124041200", want: date(2023, 11, 24, 4, 12, 0, 0)},
		{in: "19700101000000", want: date(1970, 1, 1, 0, 0, 0, 0)},
		{in: "20240229235959", want: date(2024, 2, 29, 23, 59, 59, 0)},
		{in: "20231124041200.5", want: date(2023, 11, 24, 4, 12, 0, 500_000_000)},
		{in: "20231124041200.12", want: date(2023, 11, 24, 4, 12, 0, 120_000_000)},
		{in: "20231124041200.123", want: date(2023, 11, 24, 4, 12, 0, 123_000_000)},
		{in: "20231124041200.1234", want: date(2023, 11, 24, 4, 12, 0, 123_400_000)},
		{in: "20231124041200.12345", want: date(2023, 11, 24, 4, 12, 0, 123_450_000)},
		{in: "20231124041200.123456", want: date(2023, 11, 24, 4, 12, 0, 123_456_000)},
		{in: "20231124041200.1234567", want: date(2023, 11, 24, 4, 12, 0, 123_456_700)},
		{in: "20231124041200.12345678", want: date(2023, 11, 24, 4, 12, 0, 123_456_780)},
		{in: "20231124041200.123456789", want: date(2023, 11, 24, 4, 12, 0, 123_456_789)},
		{in: "20231124041200.000", want: date(2023, 11, 24, 4, 12, 0, 0)},
		// RFC 3659 §2.3 allows a leap second; time.Time has none, so it
		// becomes the first second of the next minute, even across a year.
		{in: "20161231235960", want: date(2017, 1, 1, 0, 0, 0, 0)},
		{in: "20150630235960", want: date(2015, 7, 1, 0, 0, 0, 0)},
		{in: "20231124041200.1234567890", wantErr: true}, // 10 fraction digits
		{in: "20231124041200.", wantErr: true},
		{in: "20231124041200,5", wantErr: true},
		{in: "20231124041200Z", wantErr: true},
		{in: "20231124041200.5Z", wantErr: true},
		{in: "20231324041200", wantErr: true}, // month 13
		{in: "20230024041200", wantErr: true}, // month 0
		{in: "20231100041200", wantErr: true}, // day 0
		{in: "20231132041200", wantErr: true}, // day 32
		{in: "20230230000000", wantErr: true}, // Feb 30
		{in: "20230229000000", wantErr: true}, // Feb 29, not a leap year
		{in: "20230431000000", wantErr: true}, // Apr 31
		{in: "20231124241200", wantErr: true}, // hour 24
		{in: "20231124046000", wantErr: true}, // minute 60
		{in: "20231124041261", wantErr: true}, // second 61
		{in: "2023112404120", wantErr: true},  // too short
		{in: "", wantErr: true},
		{in: "2023112404120a", wantErr: true},
		{in: "abcdefghijklmn", wantErr: true},
		{in: " 20231124041200", wantErr: true},
		{in: "+0231124041200", wantErr: true},
		{in: "2023-11-24 04:12:00", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTime(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseTime(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Fatalf("ParseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseMLSxLine(t *testing.T) {
	mod := time.Date(2023, 11, 24, 4, 12, 0, 0, time.UTC)
	tests := []struct {
		name    string
		line    string
		want    Entry
		wantErr bool
	}{
		{
			name: "file",
			line: "type=file;size=6;modify=20231124041200; a.txt",
			want: Entry{Name: "a.txt", Type: EntryFile, Size: 6, ModTime: mod},
		},
		{
			name: "dir with a space",
			line: "type=dir;modify=20231124041200; sub dir",
			want: Entry{Name: "sub dir", Type: EntryDir, Size: -1, ModTime: mod},
		},
		{
			name: "cdir",
			line: "type=cdir;modify=20231124041200;perm=flcdmpe; .",
			want: Entry{Name: ".", Type: EntryDir, Size: -1, ModTime: mod, Perm: "flcdmpe"},
		},
		{
			name: "cdir named by its path",
			line: "type=cdir;modify=20231124041200; /home/x",
			want: Entry{Name: ".", Type: EntryDir, Size: -1, ModTime: mod},
		},
		{
			name: "pdir",
			line: "type=pdir;modify=20231124041200; ..",
			want: Entry{Name: "..", Type: EntryDir, Size: -1, ModTime: mod},
		},
		{
			name: "proftpd symlink",
			line: "modify=20231124041200;perm=adfr;size=7;type=OS.unix=slink:/srv/target;unique=FD00U1; link",
			want: Entry{Name: "link", Type: EntryLink, Size: 7, ModTime: mod, Target: "/srv/target", Perm: "adfr", Unique: "FD00U1"},
		},
		{
			name: "symlink without target",
			line: "type=OS.unix=symlink;size=7; link",
			want: Entry{Name: "link", Type: EntryLink, Size: 7},
		},
		{
			name: "unknown type",
			line: "type=OS.unix=chr-13/29; null",
			want: Entry{Name: "null", Type: EntryOther, Size: -1},
		},
		{
			name: "pure-ftpd facts",
			line: "type=file;size=1024;modify=20231124041200;UNIX.mode=0644;UNIX.uid=1000;UNIX.gid=1000;unique=801g2c; data.bin",
			want: Entry{Name: "data.bin", Type: EntryFile, Size: 1024, ModTime: mod, Unique: "801g2c"},
		},
		{
			name: "case-insensitive facts",
			line: "Type=FILE;Size=12;Modify=20231124041200; x",
			want: Entry{Name: "x", Type: EntryFile, Size: 12, ModTime: mod},
		},
		{
			name: "fraction in modify",
			line: "type=file;size=1;modify=20231124041200.250; f",
			want: Entry{Name: "f", Type: EntryFile, Size: 1, ModTime: mod.Add(250 * time.Millisecond)},
		},
		{
			name: "name with semicolons and spaces",
			line: "type=file;size=1; name; with; semis = and spaces ",
			want: Entry{Name: "name; with; semis = and spaces ", Type: EntryFile, Size: 1},
		},
		{
			name: "name with a leading space",
			line: "type=file;size=1;  leading",
			want: Entry{Name: " leading", Type: EntryFile, Size: 1},
		},
		{
			name: "no facts",
			line: " bare",
			want: Entry{Name: "bare", Type: EntryOther, Size: -1},
		},
		{
			name: "huge size",
			line: "type=file;size=9223372036854775807; big",
			want: Entry{Name: "big", Type: EntryFile, Size: 1<<63 - 1},
		},
		{name: "missing name", line: "type=file;size=6;", wantErr: true},
		{name: "empty name", line: "type=file;size=6; ", wantErr: true},
		{name: "empty line", line: "", wantErr: true},
		{name: "bad size", line: "type=file;size=abc; x", wantErr: true},
		{name: "negative size", line: "type=file;size=-1; x", wantErr: true},
		{name: "size overflow", line: "type=file;size=9223372036854775808; x", wantErr: true},
		{name: "bad modify", line: "type=file;modify=2023; x", wantErr: true},
		{name: "fact without =", line: "typefile; x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMLSxLine(tt.line)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseMLSxLine(%q) = %+v, want an error", tt.line, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseMLSxLine(%q) =\n%+v, %v; want\n%+v", tt.line, got, err, tt.want)
			}
		})
	}
}

func TestParseUnixLine(t *testing.T) {
	now := time.Date(2023, 11, 30, 12, 0, 0, 0, time.UTC)
	nov24 := time.Date(2023, 11, 24, 4, 12, 0, 0, time.UTC)
	tests := []struct {
		name    string
		line    string
		want    Entry
		wantOK  bool
		wantErr bool
	}{
		// Captured from vsftpd 3.0.5 (LIST, hide_ids=NO, numeric ids).
		{
			name:   "vsftpd file",
			line:   "-rw-r--r--    1 1000     1000            6 Nov 24 04:12 a.txt",
			want:   Entry{Name: "a.txt", Type: EntryFile, Size: 6, ModTime: nov24},
			wantOK: true,
		},
		{
			name:   "vsftpd dir with a space",
			line:   "drwxr-xr-x    2 1000     1000         4096 Nov 24 04:19 sub dir",
			want:   Entry{Name: "sub dir", Type: EntryDir, Size: -1, ModTime: nov24.Add(7 * time.Minute)},
			wantOK: true,
		},
		{
			name:   "year form",
			line:   "-rw-r--r--    1 1000     1000         1024 Jan  3  2023 old.bin",
			want:   Entry{Name: "old.bin", Type: EntryFile, Size: 1024, ModTime: time.Date(2023, 1, 3, 0, 0, 0, 0, time.UTC)},
			wantOK: true,
		},
		{
			name:   "symlink",
			line:   "lrwxrwxrwx 1 0 0 7 Nov 24 04:12 link -> target",
			want:   Entry{Name: "link", Type: EntryLink, Size: 7, ModTime: nov24, Target: "target"},
			wantOK: true,
		},
		{
			name:   "symlink to a name with an arrow",
			line:   "lrwxrwxrwx 1 0 0 7 Nov 24 04:12 a -> b -> c",
			want:   Entry{Name: "a", Type: EntryLink, Size: 7, ModTime: nov24, Target: "b -> c"},
			wantOK: true,
		},
		{
			name:   "file whose name has an arrow",
			line:   "-rw-r--r-- 1 0 0 7 Nov 24 04:12 a -> b",
			want:   Entry{Name: "a -> b", Type: EntryFile, Size: 7, ModTime: nov24},
			wantOK: true,
		},
		{
			name:   "character device",
			line:   "crw-rw-rw- 1 0 0 1, 3 Nov 24 04:12 null",
			want:   Entry{Name: "null", Type: EntryOther, Size: -1, ModTime: nov24},
			wantOK: true,
		},
		{
			name:   "block device without a space",
			line:   "brw-rw---- 1 0 6 8,0 Nov 24 04:12 sda",
			want:   Entry{Name: "sda", Type: EntryOther, Size: -1, ModTime: nov24},
			wantOK: true,
		},
		{
			name:   "missing group column",
			line:   "-rw-r--r--   1 ftp          1234 Nov 24 04:12 nogroup.txt",
			want:   Entry{Name: "nogroup.txt", Type: EntryFile, Size: 1234, ModTime: nov24},
			wantOK: true,
		},
		{
			name:   "named owner and group",
			line:   "-rw-r--r--    1 ftp      ftp          1024 Nov 24 04:12 name with spaces",
			want:   Entry{Name: "name with spaces", Type: EntryFile, Size: 1024, ModTime: nov24},
			wantOK: true,
		},
		{
			name:   "leading spaces in the name",
			line:   "-rw-r--r--    1 0 0 6 Nov 24 04:12   lead",
			want:   Entry{Name: "  lead", Type: EntryFile, Size: 6, ModTime: nov24},
			wantOK: true,
		},
		{
			name:   "trailing spaces in the name",
			line:   "-rw-r--r--    1 0 0 6 Nov 24 04:12 trail  ",
			want:   Entry{Name: "trail  ", Type: EntryFile, Size: 6, ModTime: nov24},
			wantOK: true,
		},
		{
			name:   "multiple inner spaces",
			line:   "-rw-r--r--    1 0 0 6 Nov 24 04:12 a   b",
			want:   Entry{Name: "a   b", Type: EntryFile, Size: 6, ModTime: nov24},
			wantOK: true,
		},
		{
			name:   "name that looks like a date",
			line:   "-rw-r--r--    1 0 0 6 Nov 24 04:12 Dec 25 10:00 x",
			want:   Entry{Name: "Dec 25 10:00 x", Type: EntryFile, Size: 6, ModTime: nov24},
			wantOK: true,
		},
		{
			// A user called after a month ("jun" is a common given name)
			// must not be taken for the date.
			name:   "owner and group named like a month",
			line:   "-rw-r--r--    1 jun      jun             6 Nov 24 04:12 a.txt",
			want:   Entry{Name: "a.txt", Type: EntryFile, Size: 6, ModTime: nov24},
			wantOK: true,
		},
		{
			name:   "owner named like a month, no group",
			line:   "-rw-r--r--    1 may             6 Nov 24 04:12 a.txt",
			want:   Entry{Name: "a.txt", Type: EntryFile, Size: 6, ModTime: nov24},
			wantOK: true,
		},
		{
			name:   "ACL and extended attribute markers",
			line:   "-rw-r--r--+   1 0 0 6 Nov 24 04:12 acl",
			want:   Entry{Name: "acl", Type: EntryFile, Size: 6, ModTime: nov24},
			wantOK: true,
		},
		{
			name:   "upper-case month",
			line:   "-rw-r--r-- 1 0 0 6 NOV 24 04:12 up",
			want:   Entry{Name: "up", Type: EntryFile, Size: 6, ModTime: nov24},
			wantOK: true,
		},
		{name: "total", line: "total 8"},
		{name: "total 0", line: "total 0"},
		{name: "blank", line: "   "},
		{name: "empty", line: ""},
		{name: "no name", line: "-rw-r--r--    1 0 0 6 Nov 24 04:12", wantErr: true},
		{name: "no name, one space", line: "-rw-r--r--    1 0 0 6 Nov 24 04:12 ", wantErr: true},
		{name: "no date", line: "-rw-r--r--    1 0 0 6 a.txt", wantErr: true},
		{name: "bad day", line: "-rw-r--r--    1 0 0 6 Nov 32 04:12 a.txt", wantErr: true},
		{name: "bad time", line: "-rw-r--r--    1 0 0 6 Nov 24 25:12 a.txt", wantErr: true},
		{name: "bad year", line: "-rw-r--r--    1 0 0 6 Nov 24 23 a.txt", wantErr: true},
		{name: "Feb 30", line: "-rw-r--r--    1 0 0 6 Feb 30  2023 a.txt", wantErr: true},
		{name: "unknown type", line: "?rw-r--r--    1 0 0 6 Nov 24 04:12 a.txt", wantErr: true},
		{name: "short mode", line: "-rw    1 0 0 6 Nov 24 04:12 a.txt", wantErr: true},
		{name: "DOS format", line: "11-24-23  04:12AM                    6 a.txt", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := ParseUnixLine(tt.line, now)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseUnixLine(%q) = %+v, %v; want an error", tt.line, got, ok)
				}
				return
			}
			if err != nil || ok != tt.wantOK || got != tt.want {
				t.Fatalf("ParseUnixLine(%q) =\n%+v, %v, %v; want\n%+v, %v", tt.line, got, ok, err, tt.want, tt.wantOK)
			}
		})
	}
}

// TestParseUnixLineYear checks the year given to "Mon DD HH:MM" dates, which
// ls prints for the last six months (and for times in the future): the year
// that puts the time at most a day after now, as clocks and time zones
// differ, and the latest such year.
func TestParseUnixLineYear(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi int) time.Time { return time.Date(y, mo, d, h, mi, 0, 0, time.UTC) }
	tests := []struct {
		name  string
		now   time.Time
		stamp string
		want  time.Time
	}{
		{"earlier this year", utc(2023, 11, 30, 12, 0), "Nov 24 04:12", utc(2023, 11, 24, 4, 12)},
		{"months later in the year is last year", utc(2023, 11, 30, 12, 0), "Mar 24 04:12", utc(2023, 3, 24, 4, 12)},
		{"four months ahead is this year's past", utc(2023, 11, 30, 12, 0), "Apr 10 10:00", utc(2023, 4, 10, 10, 0)},
		// pure-ftpd prints a file dated a month ahead with its time of
		// day (testdata/listings/pure-ftpd.LIST, future.txt).
		{"a month ahead is ahead", utc(2023, 11, 30, 12, 0), "Dec 24 04:12", utc(2023, 12, 24, 4, 12)},
		{"a few hours ahead is this year", utc(2023, 11, 30, 12, 0), "Nov 30 20:00", utc(2023, 11, 30, 20, 0)},
		{"just past New Year, Dec 31 is last year", utc(2024, 1, 1, 0, 30), "Dec 31 23:59", utc(2023, 12, 31, 23, 59)},
		{"just past New Year, Jan 1 is this year", utc(2024, 1, 1, 0, 30), "Jan  1 00:10", utc(2024, 1, 1, 0, 10)},
		// The server's clock (or time zone) is ahead and it is already
		// the new year there: the file is from the coming year.
		{"just before New Year, Jan 1 is next year", utc(2023, 12, 31, 23, 0), "Jan  1 00:30", utc(2024, 1, 1, 0, 30)},
		{"just before New Year, Dec 31 is this year", utc(2023, 12, 31, 23, 0), "Dec 31 22:00", utc(2023, 12, 31, 22, 0)},
		{"two days ahead is next year", utc(2023, 12, 30, 12, 0), "Jan  1 00:30", utc(2024, 1, 1, 0, 30)},
		{"three months ahead is last year", utc(2023, 10, 1, 12, 0), "Jan  1 00:30", utc(2023, 1, 1, 0, 30)},
		{"leap day in a leap year", utc(2024, 3, 1, 12, 0), "Feb 29 10:00", utc(2024, 2, 29, 10, 0)},
		{"leap day seen the year after", utc(2025, 1, 10, 12, 0), "Feb 29 10:00", utc(2024, 2, 29, 10, 0)},
		{"now not in UTC", time.Date(2024, 1, 1, 1, 0, 0, 0, time.FixedZone("CET", 3600)), "Dec 31 23:59", utc(2023, 12, 31, 23, 59)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := "-rw-r--r--    1 0 0 6 " + tt.stamp + " f"
			got, ok, err := ParseUnixLine(line, tt.now)
			if err != nil || !ok || !got.ModTime.Equal(tt.want) {
				t.Fatalf("ParseUnixLine(%q, %v) = %v, %v, %v; want ModTime %v", line, tt.now, got.ModTime, ok, err, tt.want)
			}
		})
	}
}
