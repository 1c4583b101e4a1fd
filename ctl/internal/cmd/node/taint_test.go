package node

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestTaints(t *testing.T) {
	existing := []corev1.Taint{{Key: "a", Value: "1", Effect: corev1.TaintEffectNoSchedule}, {Key: "b", Effect: corev1.TaintEffectNoExecute}}
	parse := func(specs ...string) []taintChange {
		var out []taintChange
		for _, s := range specs {
			tc, err := parseTaint(s)
			if err != nil {
				t.Fatalf("parseTaint(%q): %v", s, err)
			}
			out = append(out, tc)
		}
		return out
	}
	cases := []struct {
		name      string
		changes   []taintChange
		overwrite bool
		wantVerb  string
		wantKeys  string
		wantErr   string
	}{
		{"add", parse("c=3:PreferNoSchedule"), false, "tainted", "a=1:NoSchedule,b:NoExecute,c=3:PreferNoSchedule", ""},
		{"remove by key and effect", parse("a:NoSchedule-"), false, "untainted", "b:NoExecute", ""},
		{"remove by key", parse("b-"), false, "untainted", "a=1:NoSchedule", ""},
		{"overwrite", parse("a=2:NoSchedule"), true, "modified", "a=2:NoSchedule,b:NoExecute", ""},
		{"refuse to overwrite", parse("a=2:NoSchedule"), false, "", "", "node n already has a taint(s) with same effect(s) and --overwrite is false"},
		{"remove a missing taint", parse("z-"), false, "", "", `taint "z" not found`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, verb, err := applyTaints(existing, tc.changes, tc.overwrite, "n")
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			var keys []string
			for _, tt := range got {
				keys = append(keys, tt.ToString())
			}
			if err != nil || verb != tc.wantVerb || strings.Join(keys, ",") != tc.wantKeys {
				t.Errorf("got %s %v %v, want %s %s", verb, keys, err, tc.wantVerb, tc.wantKeys)
			}
		})
	}
	for _, bad := range []string{"a=b", "a=b:Sometimes", "bad key=v:NoSchedule"} {
		if _, err := parseTaint(bad); err == nil {
			t.Errorf("parseTaint(%q) accepted", bad)
		}
	}
}
