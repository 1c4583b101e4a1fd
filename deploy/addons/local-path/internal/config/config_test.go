package config

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name string
		json string
		want string // substring of the error; "" for none
	}{
		{"k3s default", `{"nodePathMap":[{"node":"DEFAULT_PATH_FOR_NON_LISTED_NODES","paths":["/var/lib/coracle/storage"]}]}`, ""},
		{"per node and default", `{"nodePathMap":[{"node":"DEFAULT_PATH_FOR_NON_LISTED_NODES","paths":["/a"]},{"node":"n2","paths":["/b","/c"]}]}`, ""},
		{"timeout", `{"cmdTimeoutSeconds":30,"nodePathMap":[{"node":"n","paths":["/a"]}]}`, ""},
		{"per class", `{"storageClassConfigs":{"fast":{"nodePathMap":[{"node":"n","paths":["/ssd"]}]}}}`, ""},
		{"not JSON", `{"nodePathMap": [`, "config.json: unexpected EOF"},
		{"wrong type", `{"nodePathMap":{"node":"n"}}`, "config.json: json: cannot unmarshal"},
		{"unknown field", `{"nodePathMaps":[]}`, `unknown field "nodePathMaps"`},
		{"trailing data", `{"nodePathMap":[{"node":"n","paths":["/a"]}]} {}`, "data after the JSON object"},
		{"empty", `{}`, "nodePathMap is empty"},
		{"node without name", `{"nodePathMap":[{"paths":["/a"]}]}`, "entry without a node"},
		{"duplicate node", `{"nodePathMap":[{"node":"n","paths":["/a"]},{"node":"n","paths":["/b"]}]}`, "duplicate node n"},
		{"relative path", `{"nodePathMap":[{"node":"n","paths":["data"]}]}`, "path must start with / for path data on node n"},
		{"root", `{"nodePathMap":[{"node":"n","paths":["/"]}]}`, "cannot use root ('/') as path on node n"},
		{"duplicate path", `{"nodePathMap":[{"node":"n","paths":["/a","/a/"]}]}`, "duplicate path /a on node n"},
		{"shared filesystem", `{"sharedFileSystemPath":"/nfs"}`, "sharedFileSystemPath is not supported"},
		{"setup command", `{"setupCommand":"/setup","nodePathMap":[{"node":"n","paths":["/a"]}]}`, "setupCommand and teardownCommand are not supported"},
		{"negative timeout", `{"cmdTimeoutSeconds":-1,"nodePathMap":[{"node":"n","paths":["/a"]}]}`, "must not be negative"},
		{"both maps", `{"nodePathMap":[{"node":"n","paths":["/a"]}],"storageClassConfigs":{"x":{"nodePathMap":[{"node":"n","paths":["/a"]}]}}}`, "use one"},
		{"bad class", `{"storageClassConfigs":{"x":{"nodePathMap":[{"node":"n","paths":["rel"]}]}}}`, `storage class "x": path must start with /`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.json))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			case tc.want != "" && c != nil:
				t.Fatalf("a configuration besides the error: %v", c)
			}
		})
	}
}

func TestCmdTimeout(t *testing.T) {
	for _, tc := range []struct {
		json string
		want time.Duration
	}{
		{`{"nodePathMap":[{"node":"n","paths":["/a"]}]}`, 120 * time.Second},
		{`{"cmdTimeoutSeconds":7,"nodePathMap":[{"node":"n","paths":["/a"]}]}`, 7 * time.Second},
	} {
		c, err := Parse([]byte(tc.json))
		if err != nil {
			t.Fatal(err)
		}
		if c.CmdTimeout != tc.want {
			t.Errorf("%s: timeout %v, want %v", tc.json, c.CmdTimeout, tc.want)
		}
	}
}

func TestPathOnNode(t *testing.T) {
	c, err := Parse([]byte(`{"nodePathMap":[
		{"node":"DEFAULT_PATH_FOR_NON_LISTED_NODES","paths":["/default"]},
		{"node":"two","paths":["/disk2","/disk1"]},
		{"node":"none","paths":[]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	perClass, err := Parse([]byte(`{"storageClassConfigs":{"fast":{"nodePathMap":[{"node":"n","paths":["/ssd"]}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	noDefault, err := Parse([]byte(`{"nodePathMap":[{"node":"n","paths":["/a"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name                       string
		c                          *Config
		class, node, requested, id string
		want, wantErr              string
	}{
		{"listed node", c, "local-path", "none", "", "u", "", "no local path available on node none"},
		{"node not listed uses the default", c, "local-path", "other", "", "u", "/default", ""},
		{"requested path", c, "local-path", "two", "/disk2", "u", "/disk2", ""},
		{"requested path not configured", c, "local-path", "two", "/disk3", "u", "", "config doesn't contain path /disk3 on node two"},
		{"no default", noDefault, "local-path", "other", "", "u", "", "config doesn't contain node other, and no DEFAULT_PATH_FOR_NON_LISTED_NODES available"},
		{"class config", perClass, "fast", "n", "", "u", "/ssd", ""},
		{"class without config", perClass, "slow", "n", "", "u", "", `no configuration for storage class "slow"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.c.PathOnNode(tc.class, tc.node, tc.requested, tc.id)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %q, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}

	// Of several roots, the same claim always gets the same one (a retry
	// after a restart must find its directory), and claims spread.
	seen := map[string]bool{}
	for i := range 64 {
		id := "uid-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		first, err := c.PathOnNode("local-path", "two", "", id)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := c.PathOnNode("local-path", "two", "", id)
		if first != again {
			t.Fatalf("claim %s: %s, then %s", id, first, again)
		}
		seen[first] = true
	}
	if !seen["/disk1"] || !seen["/disk2"] {
		t.Errorf("64 claims used roots %v; want both", seen)
	}
}
