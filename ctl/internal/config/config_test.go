package config

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestLoadingRulesOrder(t *testing.T) {
	dir := t.TempDir()
	admin := filepath.Join(dir, "admin.conf")
	home := filepath.Join(dir, "home")
	homeConf := filepath.Join(home, ".kube", "config")
	touch := func(p string) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("apiVersion: v1\nkind: Config\n"), 0o600)
	}
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "KUBECONFIG" {
				return v
			}
			return ""
		}
	}
	cases := []struct {
		name     string
		flag     string
		env      string
		files    []string
		explicit string
		want     []string
	}{
		{"the flag wins", "/x/flag.conf", "/x/env.conf", []string{admin, homeConf}, "/x/flag.conf", nil},
		{"then $KUBECONFIG, a path list", "", "/x/a.conf:/x/b.conf", []string{admin, homeConf}, "", []string{"/x/a.conf", "/x/b.conf"}},
		{"then the Coracle admin.conf", "", "", []string{admin, homeConf}, "", []string{admin}},
		{"then ~/.kube/config", "", "", []string{homeConf}, "", []string{homeConf}},
		{"else nothing", "", "", nil, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll(dir)
			for _, f := range tc.files {
				touch(f)
			}
			f := &Flags{Kubeconfig: tc.flag, Env: env(tc.env), Home: home, AdminConfPath: admin}
			rules := f.LoadingRules()
			if rules.ExplicitPath != tc.explicit || !slices.Equal(rules.Precedence, tc.want) {
				t.Errorf("explicit %q precedence %v; want %q %v", rules.ExplicitPath, rules.Precedence, tc.explicit, tc.want)
			}
		})
	}
}
