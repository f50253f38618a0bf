package charttest

import (
	"cmp"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestChartValuesDocumented: every value of values.yaml is in
// values.schema.json, with a description, and in the chart's README's
// table, and every value of the schema has a default in values.yaml, so
// that neither the docs nor the schema can fall behind. A leaf is a value
// the schema gives no properties of its own (config, a map, a list). Each
// object of the schema with properties refuses others.
func TestChartValuesDocumented(t *testing.T) {
	var values map[string]any
	b, err := os.ReadFile(chart + "/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if b, err = os.ReadFile(chart + "/values.schema.json"); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	readme, err := os.ReadFile(chart + "/README.md")
	if err != nil {
		t.Fatal(err)
	}
	leaves := 0
	var walk func(path string, v any, s map[string]any)
	walk = func(path string, v any, s map[string]any) {
		props, ok := s["properties"].(map[string]any)
		if !ok {
			leaves++
			if d, _ := s["description"].(string); d == "" {
				t.Errorf("%s: no description in values.schema.json", path)
			}
			if !strings.Contains(string(readme), "| `"+path+"` |") {
				t.Errorf("%s: not in the README's table of values", path)
			}
			return
		}
		if s["additionalProperties"] != false {
			t.Errorf("%s: the schema lets unknown keys in (additionalProperties is not false)", cmp.Or(path, "the top level"))
		}
		m, _ := v.(map[string]any)
		for k := range m {
			if _, ok := props[k]; !ok {
				t.Errorf("%s: in values.yaml, not in values.schema.json", join(path, k))
			}
		}
		for k, ps := range props {
			vv, ok := m[k]
			if !ok {
				t.Errorf("%s: in values.schema.json, no default in values.yaml", join(path, k))
				continue
			}
			walk(join(path, k), vv, ps.(map[string]any))
		}
	}
	walk("", values, schema)
	if leaves < 50 {
		t.Errorf("%d values documented, want the chart's fifty and more", leaves)
	}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// codeBlock is a fenced block of the README: its language and lines.
var codeBlock = regexp.MustCompile("(?s)```(yaml|sh)\n(.*?)```")

// TestChartReadmeExamples: the chart README's examples work as written:
// each values file (a yaml block whose first line is "# name.yaml") passes
// the schema, and each helm install or upgrade command renders with them
// (helm template, with the same arguments).
func TestChartReadmeExamples(t *testing.T) {
	readme, err := os.ReadFile(chart + "/README.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	deploy, err := filepath.Abs(filepath.Join(module, "deploy"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(deploy, filepath.Join(dir, "deploy")); err != nil {
		t.Fatal(err)
	}
	var files, commands []string
	for _, m := range codeBlock.FindAllStringSubmatch(string(readme), -1) {
		if m[1] == "yaml" {
			name, ok := strings.CutPrefix(strings.SplitN(m[2], "\n", 2)[0], "# ")
			if !ok || !strings.HasSuffix(name, ".yaml") {
				t.Errorf("a yaml block that does not start with its file name:\n%s", m[2])
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(m[2]), 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, name)
			continue
		}
		for _, line := range strings.Split(strings.ReplaceAll(m[2], "\\\n", " "), "\n") {
			if strings.HasPrefix(line, "helm ") {
				commands = append(commands, line)
			}
		}
	}
	if len(files) < 2 || len(commands) < 3 {
		t.Fatalf("%d values files and %d helm commands in the README; want an install, an upgrade and their values", len(files), len(commands))
	}
	used := map[string]bool{}
	for _, c := range commands {
		args := strings.Fields(c)[1:]
		switch {
		case args[0] == "install":
		case args[0] == "upgrade" && slices.Contains(args, "--install"):
			args = slices.DeleteFunc(args, func(a string) bool { return a == "--install" })
		case args[0] == "upgrade":
		default:
			t.Errorf("%s: not an install or an upgrade", c)
			continue
		}
		args[0] = "template"
		for i, a := range args {
			if a == "-f" && i+1 < len(args) {
				used[args[i+1]] = true
			}
		}
		cmd := exec.Command(helmPath(t), append(args, "--kube-version", kubeV)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: as helm %s: %v\n%s", c, strings.Join(args, " "), err, out)
		}
	}
	for _, f := range files {
		if !used[f] {
			t.Errorf("the README's %s is used by none of its helm commands", f)
		}
	}
}

// TestChartNotes: what helm install prints says how many connections the
// release may open to the FTP servers, with its own numbers. helm template
// leaves NOTES.txt out, so a copy of the chart renders it into a
// ConfigMap.
func TestChartNotes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ftpgw")
	if err := os.CopyFS(dir, os.DirFS(chart)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "templates", "NOTES.txt"), filepath.Join(dir, "files", "notes.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "templates", "notes.yaml"), []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: notes
data:
  notes: {{ tpl (.Files.Get "files/notes.txt") . | quote }}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(t.TempDir(), "existing.yaml")
	if err := os.WriteFile(existing, []byte("existingConfigSecret: mine\nreplicaCount: 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		values []string
		want   string
	}{
		{"defaults", nil, "up to 2 pods (3 in a rollout) × 8 sessions (1 backend) = 24, plus one per pod for /readyz"},
		// The HPA's most pods; max-sessions 4 for both backends.
		{"all on", []string{allOn}, "up to 12 pods (13 in a rollout) × 8 sessions (2 backends) = 104, plus one per pod for /readyz"},
		{"a config of one's own", []string{existing}, "up to 4 pods (5 in a rollout) × each backend's max-sessions (8 unless your config says otherwise)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"template", "rel", dir, "--kube-version", kubeV, "--show-only", "templates/notes.yaml"}
			for _, v := range tc.values {
				args = append(args, "-f", v)
			}
			var cm object
			if err := yaml.Unmarshal([]byte(helm(t, args...)), &cm); err != nil {
				t.Fatal(err)
			}
			notes := cm.str("data", "notes")
			if !strings.Contains(notes, "FTP connections: "+tc.want) || !strings.Contains(notes, "see the chart's README") {
				t.Errorf("notes:\n%s\nwant a line with %q, and the README named", notes, tc.want)
			}
		})
	}
}
