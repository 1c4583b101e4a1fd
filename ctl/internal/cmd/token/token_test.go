package token

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"coracle.dev/ctl/internal/bootstraptoken"
)

// Rows have kubeadm's cells (fixed widths, <none>, <forever>, <never>)
// and line up under the header.
func TestRow(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	exp := now.Add(23*time.Hour + 59*time.Minute)
	var out bytes.Buffer
	tw := tabwriter.NewWriter(&out, 10, 4, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(columns, "\t"))
	fmt.Fprint(tw, row(&bootstraptoken.Token{ID: "abcdef", Secret: "0123456789abcdef", Expires: &exp,
		Usages: []string{"authentication", "signing"}, Groups: []string{"system:bootstrappers:kubeadm:default-node-token"}}, now))
	fmt.Fprint(tw, row(&bootstraptoken.Token{ID: "zyxwvu", Secret: "0123456789abcdef", Description: "rack 2", Usages: []string{"signing"}}, now))
	_ = tw.Flush()
	want := "" +
		"TOKEN                     TTL         EXPIRES                USAGES                   DESCRIPTION                                                EXTRA GROUPS\n" +
		"abcdef.0123456789abcdef   23h         2026-05-02T09:59:00Z   authentication,signing   <none>                                                     system:bootstrappers:kubeadm:default-node-token\n" +
		"zyxwvu.0123456789abcdef   <forever>   <never>                signing                  rack 2                                                     <none>\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestHostPort(t *testing.T) {
	for in, want := range map[string]string{
		"https://10.0.0.1:6443": "10.0.0.1:6443",
		"https://api.example":   "api.example:443",
		"https://[fd00::1]":     "[fd00::1]:443",
	} {
		got, err := hostPort(in)
		if err != nil || got != want {
			t.Errorf("hostPort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := hostPort("10.0.0.1:6443"); err == nil {
		t.Error("a server without a scheme was accepted")
	}
}
