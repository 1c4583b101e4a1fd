package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"coracle.dev/shared/testproc"
)

// TestReloadKeepsLastGoodConfig is the bad-input case of the Corefile
// ConfigMap: the reload plugin picks up a changed Corefile, and one that
// does not parse, or names a plugin this binary lacks, is refused with a
// log line saying why while the last good configuration keeps serving.
//
// The Corefile's hosts plugin answers version.test with an address that
// says which configuration is live; the file is replaced atomically, as
// the kubelet updates a ConfigMap volume. Each bad file is followed by
// the wait for the log line of its refused reload, so the old answer
// that follows was given after the reload was tried, not before; and a
// good file at the end proves reload was still watching.
func TestReloadKeepsLastGoodConfig(t *testing.T) {
	addr := freeAddrs(t, 1)[0]
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	corefile := func(body string) string {
		return ".:" + port + " {\n    bind 127.0.0.1\n    reload 2s 1s\n    errors\n" + body + "\n}\n"
	}
	good := func(ip string) string {
		return corefile("    hosts {\n        " + ip + " version.test\n    }")
	}
	path := filepath.Join(t.TempDir(), "Corefile")
	writeFile(t, path, good("10.0.0.1"))
	in := startCoreDNS(t, "coredns", path, addr)

	answers := func(ip string) func() error {
		return func() error {
			r, err := in.query("version.test.", dns.TypeA)
			if err != nil {
				return err
			}
			if got := rdata(r.Answer); len(got) != 1 || got[0] != "A "+ip {
				return fmt.Errorf("version.test: %s %q, want A %s", dns.RcodeToString[r.Rcode], got, ip)
			}
			return nil
		}
	}
	// logged checks for a line of the log holding every one of parts.
	logged := func(parts ...string) func() error {
		return func() error {
			data, err := os.ReadFile(in.proc.LogPath())
			if err != nil {
				return err
			}
			for line := range strings.Lines(string(data)) {
				if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
					return nil
				}
			}
			return fmt.Errorf("no line of the log holds all of %q:\n%s", parts, testproc.LogTail(in.proc.LogPath(), 10))
		}
	}
	// Reload ticks every 1-3s; a busy machine may be slower.
	const reloadTimeout = 30 * time.Second

	eventually(t, 60*time.Second, "first configuration served", answers("10.0.0.1"))

	writeFile(t, path, good("10.0.0.2"))
	eventually(t, reloadTimeout, "changed Corefile served", answers("10.0.0.2"))

	steps := []struct {
		name     string
		corefile string
		// log is what a line of the log says about the refused reload:
		// which step refused it and why.
		log []string
	}{
		{"syntax error", corefile("    hosts {\n        10.0.0.3 \"version.test\n    }"),
			[]string{"[WARNING] plugin/reload: Corefile parse failed: ", path + ":6 - Error during parsing: Unexpected EOF"}},
		{"unknown plugin", corefile("    hosts {\n        10.0.0.4 version.test\n    }\n    nosuchplugin"),
			[]string{"[ERROR] plugin/reload: Corefile changed but reload failed: ", path + ":8 - Error during parsing: Unknown directive 'nosuchplugin'"}},
	}
	for _, s := range steps {
		writeFile(t, path, s.corefile)
		eventually(t, reloadTimeout, s.name+": refused reload logged", logged(s.log...))
		if err := answers("10.0.0.2")(); err != nil {
			t.Fatalf("%s: the last good configuration is not serving: %v", s.name, err)
		}
	}

	writeFile(t, path, good("10.0.0.5"))
	eventually(t, reloadTimeout, "good Corefile after bad ones served", answers("10.0.0.5"))
}
