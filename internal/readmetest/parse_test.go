package readmetest

import (
	"slices"
	"testing"
)

// TestParseReadme: sections are cut at headings of level 1 and 2 only,
// fences may be indented (in a list), and a command is a line with its
// continuation lines; of a console block, only the lines after "$ ".
func TestParseReadme(t *testing.T) {
	const text = "# top\n" +
		"```sh\nmake test\n```\n" +
		"## one\n" +
		"### sub\n" +
		"- a list:\n\n  ```bash\n  a=1 \\\n    b=2 cmd   # 204\n  echo $a\n  ```\n" +
		"```console\n$ curl -i \\\n  http://localhost:8080/\nHTTP/1.1 200 OK\n$ echo done\ndone\n```\n" +
		"## two\n" +
		"```yaml\n# gateway.yaml\nlisten: \":8080\"\n```\n"
	got := parseReadme(text)
	var titles []string
	for _, s := range got {
		titles = append(titles, s.title)
	}
	if want := []string{"top", "one", "two"}; !slices.Equal(titles, want) {
		t.Fatalf("sections %q, want %q", titles, want)
	}
	one := got[1].blocks
	if len(one) != 2 || one[0].lang != "bash" || one[1].lang != "console" || got[2].blocks[0].lang != "yaml" {
		t.Fatalf("blocks of section one: %+v; of two: %+v", one, got[2].blocks)
	}
	for _, tc := range []struct {
		b     block
		cmds  []string
		lines []int
	}{
		{one[0], []string{"a=1 \\\n  b=2 cmd   # 204", "echo $a"}, []int{10, 12}},
		{one[1], []string{"curl -i \\\n  http://localhost:8080/", "echo done"}, []int{15, 18}},
	} {
		cmds, lines := commands(tc.b)
		if !slices.Equal(cmds, tc.cmds) || !slices.Equal(lines, tc.lines) {
			t.Errorf("commands of the block at line %d: %q at %v, want %q at %v", tc.b.line, cmds, lines, tc.cmds, tc.lines)
		}
	}
	if m := fileBlock.FindStringSubmatch("# gateway.yaml"); m == nil || m[1] != "gateway.yaml" {
		t.Errorf("fileBlock of # gateway.yaml: %q", m)
	}
}
