package ftpcore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// EntryType is the kind of a directory entry.
type EntryType int

// The kinds of entry a listing can hold.
const (
	EntryFile EntryType = iota
	EntryDir
	EntryLink
	EntryOther
)

func (t EntryType) String() string {
	switch t {
	case EntryFile:
		return "file"
	case EntryDir:
		return "dir"
	case EntryLink:
		return "link"
	}
	return "other"
}

// Entry describes one file or directory.
type Entry struct {
	Name    string    // base name, or a path where the server sent one
	Type    EntryType //
	Size    int64     // bytes; -1 when unknown (directories, as a rule)
	ModTime time.Time // UTC; zero when unknown
	Target  string    // a symbolic link's target, when the listing says
	// Perm is the RFC 3659 "perm" fact (letters from "adfrwelcmp": what
	// the logged-in user may do), from MLSD/MLST only; "" when not sent.
	Perm string
	// Unique is the RFC 3659 "unique" fact, the server's identifier for
	// the file (the same file under two names has the same one).
	Unique string
}

// List lists the directory path: MLSD when the server offers MLST (RFC 3659
// §7), otherwise LIST parsed line by line as Unix "ls -l" output or as the
// DOS format of Windows/IIS servers. Entries for "." and ".." are left out.
// At most Config.MaxListing bytes are read.
func (c *Conn) List(ctx context.Context, path string) ([]Entry, error) {
	return c.list(ctx, path, "")
}

// ListAll is List with the entries a Unix server leaves out of LIST by
// default, those whose names start with a dot (vsftpd does; MLSD lists
// them anyway): LIST goes as "LIST -a path", ls's -a, which vsftpd,
// proftpd and pure-ftpd take as an option. A server that does not may take
// "-a" for part of the path and fail, or list something else.
func (c *Conn) ListAll(ctx context.Context, path string) ([]Entry, error) {
	return c.list(ctx, path, "-a ")
}

// list is List, with listOpts put before the path of a LIST.
func (c *Conn) list(ctx context.Context, path, listOpts string) ([]Entry, error) {
	verb, arg, parse := "LIST", listOpts+path, ParseListLine
	if c.HasFeature("MLST") {
		verb, arg = "MLSD", path
		parse = func(line string, _ time.Time) (Entry, bool, error) {
			e, err := ParseMLSxLine(line)
			if err != nil {
				return Entry{}, false, err
			}
			return e, true, nil
		}
	}
	t, err := c.startList(ctx, verb, arg)
	if err != nil {
		return nil, err
	}
	entries, perr := readListing(t, verb, c.cfg.MaxListing, parse)
	cerr := t.Close()
	if perr != nil {
		return nil, perr
	}
	if cerr != nil {
		return nil, cerr
	}
	return entries, nil
}

// readListing reads the listing that verb sent from r, at most max bytes,
// and parses it line by line with parse, leaving out "." and "..".
func readListing(r io.Reader, verb string, max int64, parse func(string, time.Time) (Entry, bool, error)) ([]Entry, error) {
	now := time.Now()
	var entries []Entry
	lr := &io.LimitedReader{R: r, N: max + 1}
	br := bufio.NewReaderSize(lr, 4096)
	for {
		line, err := br.ReadSlice('\n')
		if err == io.EOF && lr.N <= 0 {
			// The cap ended the listing, most likely in the middle of a
			// line, which must not be parsed and blamed on the server.
			return nil, &ProtocolError{Cmd: verb, Msg: fmt.Sprintf("listing longer than %d bytes", max)}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, &ProtocolError{Cmd: verb, Msg: "listing line longer than 4096 bytes"}
		}
		if s := strings.TrimRight(string(line), "\r\n"); s != "" {
			e, ok, perr := parse(s, now)
			if perr != nil {
				return nil, &ProtocolError{Cmd: verb, Msg: perr.Error()}
			}
			if ok && e.Name != "." && e.Name != ".." {
				entries = append(entries, e)
			}
		}
		if err == io.EOF {
			return entries, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (c *Conn) startList(ctx context.Context, verb, path string) (*Transfer, error) {
	data, rep, err := c.startTransfer(ctx, verb, path, 0)
	if err != nil {
		return nil, err
	}
	// Like Retr: a cancelled listing interrupts the data connection and
	// Close ends the transfer with ABOR, keeping the session if it can.
	t := &Transfer{c: c, ctx: ctx, verb: verb, data: data, limit: -1}
	if rep.Class() == 2 {
		t.done = rep
	}
	t.stop = watchData(ctx, data)
	return t, nil
}

// ParseMLSxLine parses one MLSD line or MLST fact line (RFC 3659 §7.2):
// "fact=value;fact=value; name". Fact names are case-insensitive; unknown
// facts are ignored. Types cdir and pdir come back as directories named "."
// and "..".
func ParseMLSxLine(line string) (Entry, error) {
	facts, name, ok := strings.Cut(line, " ")
	if !ok || name == "" {
		return Entry{}, fmt.Errorf("MLSx line without a name: %q", truncateString(line, 64))
	}
	e := Entry{Name: name, Type: EntryOther, Size: -1}
	for _, f := range strings.Split(facts, ";") {
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return Entry{}, fmt.Errorf("malformed MLSx fact %q", truncateString(f, 64))
		}
		switch strings.ToLower(k) {
		case "type":
			switch lv := strings.ToLower(v); {
			case lv == "file":
				e.Type = EntryFile
			case lv == "dir":
				e.Type = EntryDir
			case lv == "cdir":
				e.Type, e.Name = EntryDir, "."
			case lv == "pdir":
				e.Type, e.Name = EntryDir, ".."
			case strings.HasPrefix(lv, "os.unix=slink") || strings.HasPrefix(lv, "os.unix=symlink"):
				e.Type = EntryLink
				if _, target, ok := strings.Cut(v, ":"); ok {
					e.Target = target
				}
			}
		case "perm":
			e.Perm = v
		case "unique":
			e.Unique = v
		case "size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return Entry{}, fmt.Errorf("malformed MLSx size %q", truncateString(v, 32))
			}
			e.Size = n
		case "modify":
			t, err := ParseTime(v)
			if err != nil {
				return Entry{}, err
			}
			e.ModTime = t
		}
	}
	return e, nil
}

var months = map[string]time.Month{
	"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
	"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}

// ParseListLine parses one line of LIST output in either format servers use:
// the DOS format of Windows/IIS servers when the line starts with a digit
// (a date), Unix "ls -l" otherwise. ok is false for lines that describe no
// entry.
func ParseListLine(line string, now time.Time) (e Entry, ok bool, err error) {
	if line != "" && isDigit(line[0]) {
		return ParseDOSLine(line)
	}
	return parseUnixLine(line, now)
}

// ParseUnixLine parses one line of Unix "ls -l" output as LIST sends it:
//
//	-rw-r--r--    1 ftp      ftp          1024 Nov 24 04:12 name with spaces
//	drwxr-xr-x    2 0        0            4096 Jan  3  2023 dir
//	lrwxrwxrwx    1 0        0               7 Nov 24 04:12 link -> target
//	crw-rw-rw-    1 0        0          1,   3 Nov 24 04:12 null
//
// Times without a year are placed in the year that makes them not more than
// a day after now. ok is false for lines that describe no entry ("total 8").
func ParseUnixLine(line string, now time.Time) (e Entry, ok bool, err error) {
	return parseUnixLine(line, now)
}

func parseUnixLine(line string, now time.Time) (Entry, bool, error) {
	if strings.HasPrefix(line, "total ") || strings.TrimSpace(line) == "" {
		return Entry{}, false, nil
	}
	fields, offs := splitFields(line, 9)
	if len(fields) < 6 || len(fields[0]) < 10 {
		return Entry{}, false, fmt.Errorf("unparsable LIST line %q", truncateString(line, 64))
	}
	e := Entry{Size: -1}
	var ok bool
	if e.Type, ok = unixType(fields[0][0]); !ok {
		return Entry{}, false, fmt.Errorf("unknown file type in LIST line %q", truncateString(line, 64))
	}
	mi, mod, sawMonth := findUnixDate(fields, now)
	if mi < 0 {
		if sawMonth {
			return Entry{}, false, fmt.Errorf("bad date in LIST line %q", truncateString(line, 64))
		}
		return Entry{}, false, fmt.Errorf("no date in LIST line %q", truncateString(line, 64))
	}
	if e.Type == EntryFile || e.Type == EntryDir || e.Type == EntryLink {
		n, err := strconv.ParseInt(fields[mi-1], 10, 64)
		if err == nil && n >= 0 {
			e.Size = n
		}
	}
	e.ModTime = mod
	// The name is the rest of the line after the time-or-year field,
	// spaces included, less the single separating space.
	start := offs[mi+2] + len(fields[mi+2]) + 1
	if start >= len(line) {
		return Entry{}, false, fmt.Errorf("no name in LIST line %q", truncateString(line, 64))
	}
	name := line[start:]
	if e.Type == EntryLink {
		if n, target, ok := strings.Cut(name, " -> "); ok {
			name, e.Target = n, target
		}
	}
	if e.Type == EntryDir {
		e.Size = -1
	}
	e.Name = name
	return e, true, nil
}

// unixType is the type of entry whose "ls -l" mode starts with m.
func unixType(m byte) (EntryType, bool) {
	switch m {
	case '-':
		return EntryFile, true
	case 'd':
		return EntryDir, true
	case 'l':
		return EntryLink, true
	case 'b', 'c', 'p', 's', 'D':
		return EntryOther, true
	}
	return 0, false
}

// findUnixDate finds the date of an "ls -l" line split into fields: month,
// day, then time or year. Owner and group columns vary (missing group,
// numeric ids, spaces in device numbers), so the date anchors the parse
// and the size is the field before it. An owner or group may be called
// like a month ("jun", "may"), so a month counts only when a valid day and
// time-or-year follow it. mi is the month's field, -1 if none counts;
// sawMonth says whether any field looked like one.
func findUnixDate(fields []string, now time.Time) (mi int, mod time.Time, sawMonth bool) {
	for i := 2; i+2 < len(fields); i++ {
		if _, ok := months[strings.ToLower(fields[i])]; !ok {
			continue
		}
		sawMonth = true
		if t, err := unixDate(fields[i], fields[i+1], fields[i+2], now); err == nil {
			return i, t, true
		}
	}
	return -1, time.Time{}, sawMonth
}

// splitFields splits line at runs of spaces into at most max+... fields,
// recording where each field starts. It stops after the fields needed to
// find the name, so spaces inside names survive.
func splitFields(line string, max int) ([]string, []int) {
	var fields []string
	var offs []int
	i := 0
	for i < len(line) && len(fields) < max+3 {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i >= len(line) {
			break
		}
		j := i
		for j < len(line) && line[j] != ' ' {
			j++
		}
		fields = append(fields, line[i:j])
		offs = append(offs, i)
		i = j
	}
	return fields, offs
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func unixDate(mon, day, tm string, now time.Time) (time.Time, error) {
	m, ok := months[strings.ToLower(mon)]
	if !ok {
		return time.Time{}, errors.New("bad month")
	}
	d, err := strconv.Atoi(day)
	if err != nil || d < 1 || d > 31 {
		return time.Time{}, errors.New("bad day")
	}
	// time.Date rolls a day the month does not have (Feb 30, Apr 31) over
	// into the next month; such a date is not one ls printed.
	if h, mm, ok := strings.Cut(tm, ":"); ok {
		hh, err1 := strconv.Atoi(h)
		mi, err2 := strconv.Atoi(mm)
		if err1 != nil || err2 != nil || hh > 23 || mi > 59 || hh < 0 || mi < 0 {
			return time.Time{}, errors.New("bad time")
		}
		// ls prints the time of day instead of the year for times of the
		// last six months; some servers do so for the whole current year,
		// and some (pure-ftpd) for times in the future as well. So: the
		// next such date if it is at most futureHorizon ahead (clock skew,
		// or a file dated ahead), else the latest one not after now. Feb
		// 29 only counts in leap years.
		now = now.UTC()
		var best time.Time
		for y := now.Year() - 4; y <= now.Year()+1; y++ {
			t := time.Date(y, m, d, hh, mi, 0, 0, time.UTC)
			if t.Day() != d {
				continue
			}
			if t.After(now) {
				if t.Sub(now) <= futureHorizon {
					best = t
				}
				break
			}
			best = t
		}
		if !best.IsZero() {
			return best, nil
		}
		return time.Time{}, errors.New("bad day")
	}
	y, err := strconv.Atoi(tm)
	if err != nil || y < 1900 || y > 9999 {
		return time.Time{}, errors.New("bad year")
	}
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d {
		return time.Time{}, errors.New("bad day")
	}
	return t, nil
}

func truncateString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// futureHorizon is how far ahead of now a time-of-day LIST date may be
// taken to lie. pure-ftpd prints a file dated a month ahead that way.
const futureHorizon = 60 * 24 * time.Hour
