package ftpcore

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDOSLine parses one line of the DOS-style LIST output of Windows and
// IIS FTP servers:
//
//	11-24-26  04:12AM                 6 a.txt
//	11-24-26  04:19PM       <DIR>          sub dir
//	11-24-2026  16:19       <DIR>          sub dir
//
// Dates are month-day-year with a two- or four-digit year (two-digit years
// 70-99 are 19xx, 00-69 are 20xx); times are 12-hour with AM/PM or 24-hour.
// The server's time zone is unknown, so times are taken as UTC. The name is
// everything after the size (or <DIR>) column and its separating spaces.
func ParseDOSLine(line string) (e Entry, ok bool, err error) {
	bad := func(what string) (Entry, bool, error) {
		return Entry{}, false, fmt.Errorf("unparsable DOS LIST line (%s): %q", what, truncateString(line, 64))
	}
	fields, offs := splitFields(line, 1)
	if len(fields) < 4 {
		return bad("too few fields")
	}
	date, clock, sizeOrDir := fields[0], fields[1], fields[2]
	mod, err := dosTime(date, clock)
	if err != nil {
		return bad(err.Error())
	}
	e = Entry{ModTime: mod, Size: -1}
	if strings.EqualFold(sizeOrDir, "<DIR>") {
		e.Type = EntryDir
	} else {
		n, err := strconv.ParseInt(strings.ReplaceAll(sizeOrDir, ",", ""), 10, 64)
		if err != nil || n < 0 {
			return bad("size")
		}
		e.Type, e.Size = EntryFile, n
	}
	// The name starts at the fourth field; names keep inner and trailing
	// spaces but not the column padding before them.
	e.Name = line[offs[3]:]
	if e.Name == "" {
		return bad("no name")
	}
	return e, true, nil
}

func dosTime(date, clock string) (time.Time, error) {
	parts := strings.Split(date, "-")
	if len(parts) != 3 {
		parts = strings.Split(date, "/")
	}
	if len(parts) != 3 || !isNumber(parts[0]) || !isNumber(parts[1]) || !isNumber(parts[2]) {
		return time.Time{}, fmt.Errorf("date %q", date)
	}
	month, _ := strconv.Atoi(parts[0])
	day, _ := strconv.Atoi(parts[1])
	year, _ := strconv.Atoi(parts[2])
	switch len(parts[2]) {
	case 2:
		if year >= 70 {
			year += 1900
		} else {
			year += 2000
		}
	case 4:
	default:
		return time.Time{}, fmt.Errorf("year %q", parts[2])
	}
	c := strings.ToUpper(clock)
	pm, am := strings.HasSuffix(c, "PM"), strings.HasSuffix(c, "AM")
	if pm || am {
		c = c[:len(c)-2]
	}
	h, m, ok := strings.Cut(c, ":")
	if !ok || !isNumber(h) || !isNumber(m) || len(m) != 2 {
		return time.Time{}, fmt.Errorf("time %q", clock)
	}
	hour, _ := strconv.Atoi(h)
	min, _ := strconv.Atoi(m)
	if pm || am {
		if hour < 1 || hour > 12 {
			return time.Time{}, fmt.Errorf("time %q", clock)
		}
		hour %= 12
		if pm {
			hour += 12
		}
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || min > 59 {
		return time.Time{}, fmt.Errorf("date %q %q", date, clock)
	}
	t := time.Date(year, time.Month(month), day, hour, min, 0, 0, time.UTC)
	if t.Day() != day {
		return time.Time{}, fmt.Errorf("date %q", date)
	}
	return t, nil
}
