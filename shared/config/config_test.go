package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

type settings struct {
	DataDir  string        `mapstructure:"data-dir"`
	Port     int           `mapstructure:"secure-port"`
	Servers  []string      `mapstructure:"etcd-servers"`
	Interval time.Duration `mapstructure:"interval"`
}

func flags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String("data-dir", "/default", "")
	fs.Int("secure-port", 6443, "")
	fs.StringSlice("etcd-servers", nil, "")
	fs.Duration("interval", time.Second, "")
	return fs
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadPrecedence(t *testing.T) {
	file := writeFile(t, "data-dir: /from-file\nsecure-port: 7000\netcd-servers: [http://a:2379, http://b:2379]\ninterval: 5s\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want settings
	}{
		{
			name: "defaults when nothing is given",
			want: settings{DataDir: "/default", Port: 6443, Servers: []string{}, Interval: time.Second},
		},
		{
			name: "file overrides defaults",
			args: []string{"--config", file},
			want: settings{DataDir: "/from-file", Port: 7000, Servers: []string{"http://a:2379", "http://b:2379"}, Interval: 5 * time.Second},
		},
		{
			name: "environment overrides file",
			args: []string{"--config", file},
			env:  map[string]string{"CORACLE_DATA_DIR": "/from-env", "CORACLE_ETCD_SERVERS": "http://c:2379,http://d:2379"},
			want: settings{DataDir: "/from-env", Port: 7000, Servers: []string{"http://c:2379", "http://d:2379"}, Interval: 5 * time.Second},
		},
		{
			name: "flag overrides environment and file",
			args: []string{"--config", file, "--data-dir", "/from-flag", "--secure-port", "8443"},
			env:  map[string]string{"CORACLE_DATA_DIR": "/from-env"},
			want: settings{DataDir: "/from-flag", Port: 8443, Servers: []string{"http://a:2379", "http://b:2379"}, Interval: 5 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var got settings
			if err := Load(flags(), tt.args, &got); err != nil {
				t.Fatal(err)
			}
			if got.DataDir != tt.want.DataDir || got.Port != tt.want.Port || got.Interval != tt.want.Interval ||
				strings.Join(got.Servers, ",") != strings.Join(tt.want.Servers, ",") {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLoadRejectsUnknownFileKey(t *testing.T) {
	file := writeFile(t, "data-dir: /x\nsecure-prot: 1\n")
	var got settings
	err := Load(flags(), []string{"--config", file}, &got)
	if err == nil || !strings.Contains(err.Error(), "secure-prot") || !strings.Contains(err.Error(), file) {
		t.Fatalf("want an error naming the key and the file, got %v", err)
	}
}

func TestLoadRejectsBrokenYAML(t *testing.T) {
	file := writeFile(t, "data-dir: [unclosed\n")
	var got settings
	err := Load(flags(), []string{"--config", file}, &got)
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("want an error naming the file, got %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	var got settings
	if err := Load(flags(), []string{"--config", "/nonexistent/c.yaml"}, &got); err == nil {
		t.Fatal("want an error for a missing config file")
	}
}
