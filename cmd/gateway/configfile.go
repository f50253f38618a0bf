package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/ftpgw/ftpgw/api"
	"go.yaml.in/yaml/v3"
)

// The config file (--config) declares the backends, and settings for all
// of them. Its keys are the flags' names: a setting is spelt the same on
// the command line, in the environment (FTPGW_…) and in the file. A value
// is a scalar, or for the flags that take a comma-separated list, a
// sequence. The file is read in this order, later ones winning:
//
//  1. the flags' defaults;
//  2. the file's top level: settings for every backend, and the
//     gateway-wide ones (gatewayKeys), which only it may hold;
//  3. the backend's own entry under "backends";
//  4. environment variables, for every backend;
//  5. command-line flags, for every backend.
//
// A backend's identity (its name, mount, upstream and password) is only in
// its entry: --upstream and --upstream-password-file, on the command line
// or in the environment, are refused beside --config.

// gatewayKeys are the settings of the gateway as a whole, which the file
// holds at its top level only.
var gatewayKeys = []string{"listen", "metrics-listen", "log-level", "drain-pause", "shutdown-timeout", "client-idle-timeout", "signing-keys-file"}

// backendOnlyKeys are a backend's identity: in its entry only, never on
// the command line or in the environment beside --config. The first four
// are not flags.
var backendOnlyKeys = []string{"name", "mount", "upstream-password", "upstream-password-env", "upstream", "upstream-password-file"}

// notInFile are flags that mean nothing in the file.
var notInFile = []string{"config", "check", "demo", "demo-dir"}

// backendName is what a backend's name may be: it labels metrics and log
// lines.
var backendName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// fileEntry is one key of the file and its value, as the flag would be
// given.
type fileEntry struct {
	key, value string
	line       int
}

// fileError is an error in the config file, at a line.
func fileError(name string, line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...))
}

// loadConfigFile builds the config of every backend the file declares,
// with the environment (getenv) and the command line (args, --config
// included) applied over it. The first backend's config carries the
// gateway-wide settings and the others in Backends.
func loadConfigFile(name string, args []string, getenv func(string) string, out io.Writer) (*config, error) {
	for _, key := range backendOnlyKeys[4:] {
		if getenv(envName(key)) != "" {
			return nil, fmt.Errorf("%s is set, and --config declares the backends: the upstream and its password go in the file", envName(key))
		}
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("--config %s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("--config %s is empty: it must declare backends", name)
	}
	top, backends, err := readTop(name, doc.Content[0])
	if err != nil {
		return nil, err
	}
	var first *config
	names, mounts := map[string]bool{}, map[string]string{}
	for i, node := range backends {
		entries, err := readMapping(name, node, fmt.Sprintf("backends[%d]", i))
		if err != nil {
			return nil, err
		}
		bc, err := loadBackend(name, i, node.Line, top, entries, args, getenv, out)
		if err != nil {
			return nil, err
		}
		if names[bc.Name] {
			return nil, fileError(name, node.Line, "backends[%d]: a second backend named %q", i, bc.Name)
		}
		names[bc.Name] = true
		if len(backends) > 1 && bc.Mount == "" {
			return nil, fileError(name, node.Line, "backends[%d] (%s): no mount; with several backends, each needs one, such as /%s/", i, bc.Name, bc.Name)
		}
		if bc.Mount == "" {
			bc.Mount = api.DefaultMount
		}
		if other, ok := mounts[bc.Mount]; ok {
			return nil, fileError(name, node.Line, "backends[%d] (%s): mount %s is backend %s's already", i, bc.Name, bc.Mount, other)
		}
		mounts[bc.Mount] = bc.Name
		if first == nil {
			first = bc
			continue
		}
		first.Backends = append(first.Backends, bc)
	}
	first.ConfigFile = name
	if err := checkSigning(first.all()); err != nil {
		return nil, fmt.Errorf("--config %s: %w", name, err)
	}
	if !first.listenGiven && slices.ContainsFunc(first.all(), func(c *config) bool { return c.Auth.Mode == authNone }) {
		// One backend open to anyone keeps the whole gateway on this
		// machine, unless told where to listen.
		first.Listen = loopbackListen
	}
	return first, nil
}

// readTop reads the file's top level: its settings, and the backends'
// nodes.
func readTop(name string, root *yaml.Node) (top []fileEntry, backends []*yaml.Node, err error) {
	if root.Kind != yaml.MappingNode {
		return nil, nil, fileError(name, root.Line, "the top level must be a mapping of settings, with backends:")
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if prev, dup := seen[k.Value]; dup {
			return nil, nil, fileError(name, k.Line, "%s given twice (first on line %d)", k.Value, prev)
		}
		seen[k.Value] = k.Line
		if k.Value == "backends" {
			if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
				return nil, nil, fileError(name, v.Line, "backends must be a list of one or more backends")
			}
			backends = v.Content
			continue
		}
		if slices.Contains(backendOnlyKeys, k.Value) {
			return nil, nil, fileError(name, k.Line, "%s belongs to a backend: put it in its entry under backends", k.Value)
		}
		e, err := readEntry(name, k, v, "")
		if err != nil {
			return nil, nil, err
		}
		top = append(top, e)
	}
	if backends == nil {
		return nil, nil, fileError(name, root.Line, "no backends: declare at least one under backends:")
	}
	return top, backends, nil
}

// readMapping reads a backend's entry.
func readMapping(name string, node *yaml.Node, where string) ([]fileEntry, error) {
	if node.Kind != yaml.MappingNode {
		return nil, fileError(name, node.Line, "%s must be a mapping of settings", where)
	}
	var entries []fileEntry
	seen := map[string]int{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		if prev, dup := seen[k.Value]; dup {
			return nil, fileError(name, k.Line, "%s: %s given twice (first on line %d)", where, k.Value, prev)
		}
		seen[k.Value] = k.Line
		if slices.Contains(gatewayKeys, k.Value) {
			return nil, fileError(name, k.Line, "%s: %s is the gateway's, not a backend's: put it at the top level", where, k.Value)
		}
		e, err := readEntry(name, k, v, where+": ")
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// readEntry reads one setting: a scalar, or a sequence of scalars joined
// with commas, as the list flags take them.
func readEntry(name string, k, v *yaml.Node, where string) (fileEntry, error) {
	if k.Kind != yaml.ScalarNode {
		return fileEntry{}, fileError(name, k.Line, "%sa key must be a name", where)
	}
	if slices.Contains(notInFile, k.Value) {
		return fileEntry{}, fileError(name, k.Line, "%s%s cannot be set in the config file", where, k.Value)
	}
	e := fileEntry{key: k.Value, line: k.Line}
	switch v.Kind {
	case yaml.ScalarNode:
		e.value = v.Value
	case yaml.SequenceNode:
		var items []string
		for _, item := range v.Content {
			if item.Kind != yaml.ScalarNode || strings.Contains(item.Value, ",") {
				return fileEntry{}, fileError(name, item.Line, "%s%s: each item must be a single value", where, k.Value)
			}
			items = append(items, item.Value)
		}
		e.value = strings.Join(items, ",")
	default:
		return fileEntry{}, fileError(name, v.Line, "%s%s must be a value or a list of values", where, k.Value)
	}
	return e, nil
}

// loadBackend builds backend i's config: the flags' defaults, then top,
// then its entries, then the environment and args; validated as the flags
// are.
func loadBackend(name string, i, line int, top, entries []fileEntry, args []string, getenv func(string) string, out io.Writer) (*config, error) {
	fs, v := newFlagSet(out)
	var bname, mount, password, passwordEnv string
	where := fmt.Sprintf("backends[%d]", i)
	set := func(e fileEntry) error {
		switch e.key {
		case "name":
			bname = e.value
			return nil
		case "mount":
			mount = e.value
			return nil
		case "upstream-password":
			password = e.value
			return nil
		case "upstream-password-env":
			passwordEnv = e.value
			return nil
		}
		if fs.Lookup(e.key) == nil {
			return fileError(name, e.line, "%s: unknown setting %q (the settings are the flags' names; see gateway -h)", where, e.key)
		}
		if err := fs.Set(e.key, e.value); err != nil {
			return fileError(name, e.line, "%s: %s: %v", where, e.key, err)
		}
		return nil
	}
	for _, e := range slices.Concat(top, entries) {
		if err := set(e); err != nil {
			return nil, err
		}
	}
	if !backendName.MatchString(bname) {
		return nil, fileError(name, line, "%s: name %q must be 1 to 32 of a-z, 0-9, _ and -, starting with a letter or digit", where, bname)
	}
	where = fmt.Sprintf("backends[%d] (%s)", i, bname)
	if mount != "" {
		if err := api.ValidMount(mount); err != nil {
			return nil, fileError(name, line, "%s: %v", where, err)
		}
	}
	if err := parseEnvAndArgs(fs, args, getenv); err != nil {
		return nil, err
	}
	v.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { v.set[f.Name] = true })
	for _, key := range backendOnlyKeys[4:] {
		if slices.ContainsFunc(args, func(a string) bool { return isFlag(a, key) }) {
			return nil, fmt.Errorf("--%s with --config: the backends' upstreams are declared in the file", key)
		}
	}
	if v.demo {
		return nil, errors.New("--demo cannot be used with --config")
	}
	if err := v.validateAuth(getenv); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", name, where, err)
	}
	if v.authMode == authNone && !v.set["listen"] {
		v.listen = loopbackListen
	}
	if err := backendPassword(v, password, passwordEnv, getenv); err != nil {
		return nil, fileError(name, line, "%s: %v", where, err)
	}
	if v.authMode == authBasic && (password != "" || passwordEnv != "") {
		return nil, fileError(name, line, "%s: auth basic logs in as each request's user: no upstream-password%s", where, map[bool]string{true: "-env", false: ""}[passwordEnv != ""])
	}
	if err := v.validate(); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", name, where, err)
	}
	if password != "" || passwordEnv != "" {
		if v.up.Password != "" {
			return nil, fileError(name, line, "%s: a password in the upstream URL and in upstream-password%s: give one", where, map[bool]string{true: "-env", false: ""}[passwordEnv != ""])
		}
		v.up.Password = password
		if passwordEnv != "" {
			v.up.Password = getenv(passwordEnv)
		}
	}
	cfg := v.config()
	cfg.Name, cfg.Mount, cfg.listenGiven = bname, mount, v.set["listen"]
	return cfg, nil
}

// backendPassword checks a backend's password settings: at most one of
// upstream-password, upstream-password-env and upstream-password-file,
// and the variable set.
func backendPassword(v *flagValues, password, passwordEnv string, getenv func(string) string) error {
	n := 0
	for _, given := range []bool{password != "", passwordEnv != "", v.passwordFile != ""} {
		if given {
			n++
		}
	}
	if n > 1 {
		return errors.New("give one of upstream-password, upstream-password-env and upstream-password-file")
	}
	switch {
	case password != "" && hasCtl(password):
		return errors.New("upstream-password contains CR, LF or NUL")
	case passwordEnv != "" && getenv(passwordEnv) == "":
		return fmt.Errorf("upstream-password-env: %s is not set", passwordEnv)
	case passwordEnv != "" && hasCtl(getenv(passwordEnv)):
		return fmt.Errorf("upstream-password-env: %s contains CR, LF or NUL", passwordEnv)
	}
	return nil
}

// isFlag reports whether the argument a gives the flag name, as -name,
// --name, or either with =value.
func isFlag(a, name string) bool {
	a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	return a == name || strings.HasPrefix(a, name+"=")
}
