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

// --as, --as-group and --as-uid reach client-go's configuration, which
// sends them as Impersonate-* headers on every request.
func TestImpersonationFlags(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "config")
	err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: admin
  user: {token: secret}
contexts:
- name: c
  context: {cluster: c, user: admin}
current-context: c
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		flags  Flags
		user   string
		groups []string
		uid    string
	}{
		{"no impersonation", Flags{}, "", nil, ""},
		{"a user", Flags{Impersonate: "alice"}, "alice", nil, ""},
		{"a service account with groups and a uid", Flags{Impersonate: "system:serviceaccount:dev:app", ImpersonateGroups: []string{"a", "b"}, ImpersonateUID: "1234"},
			"system:serviceaccount:dev:app", []string{"a", "b"}, "1234"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.flags
			f.Kubeconfig = kubeconfig
			cfg, err := f.ClientConfig().ClientConfig()
			if err != nil {
				t.Fatal(err)
			}
			im := cfg.Impersonate
			if im.UserName != tc.user || !slices.Equal(im.Groups, tc.groups) || im.UID != tc.uid {
				t.Errorf("impersonation %+v, want user %q groups %q uid %q", im, tc.user, tc.groups, tc.uid)
			}
			if cfg.BearerToken != "secret" {
				t.Errorf("the kubeconfig's credential is lost: %q", cfg.BearerToken)
			}
		})
	}
}
