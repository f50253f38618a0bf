package ftpcore

import (
	"testing"
	"time"
)

func TestParseDOSLine(t *testing.T) {
	d := func(y, mo, day, h, mi int) time.Time { return time.Date(y, time.Month(mo), day, h, mi, 0, 0, time.UTC) }
	tests := []struct {
		line string
		want Entry
	}{
		{"11-24-26  04:12AM                 6 a.txt", Entry{Name: "a.txt", Type: EntryFile, Size: 6, ModTime: d(2026, 11, 24, 4, 12)}},
		{"11-24-26  04:19PM       <DIR>          sub dir", Entry{Name: "sub dir", Type: EntryDir, Size: -1, ModTime: d(2026, 11, 24, 16, 19)}},
		{"11-24-2026  16:19       <DIR>          x", Entry{Name: "x", Type: EntryDir, Size: -1, ModTime: d(2026, 11, 24, 16, 19)}},
		{"01-02-99  12:00AM              1,024 old.bin", Entry{Name: "old.bin", Type: EntryFile, Size: 1024, ModTime: d(1999, 1, 2, 0, 0)}},
		{"01-02-99  12:30PM                 0 noon  two  spaces ", Entry{Name: "noon  two  spaces ", Type: EntryFile, Size: 0, ModTime: d(1999, 1, 2, 12, 30)}},
		{"02/29/2024  11:59PM      9999999999 leap", Entry{Name: "leap", Type: EntryFile, Size: 9999999999, ModTime: d(2024, 2, 29, 23, 59)}},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			got, ok, err := ParseListLine(tc.line, time.Now())
			if err != nil || !ok {
				t.Fatalf("ParseListLine: ok=%v err=%v", ok, err)
			}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{
		"11-24-26  04:12AM                 6", // no name
		"13-24-26  04:12AM                 6 a",
		"02-30-24  04:12AM                 6 a",
		"11-24-26  13:12PM                 6 a",
		"11-24-26  04:60                   6 a",
		"11-24-226  04:12                  6 a",
		"11-24-26  04:12AM               -6 a",
		"11-24-26  04:12AM              abc a",
		"1-2  3:4 5 b",
	} {
		if _, ok, err := ParseListLine(bad, time.Now()); err == nil || ok {
			t.Errorf("ParseListLine(%q): ok=%v err=%v, want an error", bad, ok, err)
		}
	}
}

func TestParseMLSxFactsPermUnique(t *testing.T) {
	e, err := ParseMLSxLine("Type=file;Size=6;Modify=20261124041200;Perm=adfrw;UNIQUE=801g4804e; a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if e.Perm != "adfrw" || e.Unique != "801g4804e" || e.Size != 6 || e.Type != EntryFile {
		t.Errorf("%+v", e)
	}
}

func FuzzParseDOSLine(f *testing.F) {
	for _, s := range []string{
		"11-24-26  04:12AM                 6 a.txt",
		"11-24-26  04:19PM       <DIR>          sub dir",
		"11-24-2026  16:19       <DIR>          x",
		"01-02-99  12:00AM              1,024 old.bin",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, ok, err := ParseDOSLine(line)
		if err == nil && ok {
			if e.Name == "" {
				t.Fatalf("%q: empty name", line)
			}
			if e.Type == EntryFile && e.Size < 0 || e.Type == EntryDir && e.Size != -1 {
				t.Fatalf("%q: %+v", line, e)
			}
		}
	})
}
