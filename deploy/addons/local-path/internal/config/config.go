// Package config is the provisioner's node configuration: the config.json
// of its ConfigMap, in the format k3s's local-path-provisioner reads, which
// says under which directories of each node volumes are made:
//
//	{"nodePathMap": [
//	  {"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": ["/var/lib/coracle/storage"]},
//	  {"node": "node-2", "paths": ["/srv/node-2/storage"]}
//	]}
//
// Parse checks it whole, so a bad edit of the ConfigMap is refused with
// the reason and the last good configuration stays in force.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Key is the ConfigMap's key that holds the configuration.
const Key = "config.json"

// DefaultNode is the nodePathMap entry for every node not listed by name.
const DefaultNode = "DEFAULT_PATH_FOR_NON_LISTED_NODES"

// DefaultCmdTimeout is how long a helper pod may take when the
// configuration does not say (k3s's cmdTimeoutSeconds default).
const DefaultCmdTimeout = 120 * time.Second

// ErrNoPath is returned by PathOnNode when the configuration gives the
// node no directory.
var ErrNoPath = errors.New("no local path available")

// NodePaths are the storage roots of one node, or of the nodes not listed.
type NodePaths struct {
	Node  string   `json:"node,omitempty"`
	Paths []string `json:"paths,omitempty"`
}

// ClassConfig is where one StorageClass's volumes go.
type ClassConfig struct {
	NodePathMap []NodePaths `json:"nodePathMap,omitempty"`
	// SharedFileSystemPath is k3s's alternative to nodePathMap (one
	// filesystem mounted on every node); refused here: see Parse.
	SharedFileSystemPath string `json:"sharedFileSystemPath,omitempty"`
}

// file is config.json as k3s defines it. setupCommand and teardownCommand
// name shell scripts of k3s's helper image; this provisioner's helper is
// its own binary, so they are refused rather than silently ignored.
type file struct {
	CmdTimeoutSeconds int    `json:"cmdTimeoutSeconds,omitempty"`
	SetupCommand      string `json:"setupCommand,omitempty"`
	TeardownCommand   string `json:"teardownCommand,omitempty"`
	ClassConfig
	StorageClassConfigs map[string]ClassConfig `json:"storageClassConfigs,omitempty"`
}

// Config is a checked configuration.
type Config struct {
	// CmdTimeout bounds each helper pod, from its creation to its end.
	CmdTimeout time.Duration
	// nodes maps a node name (or DefaultNode) to its sorted roots, for
	// classes without a configuration of their own.
	nodes map[string][]string
	// classes holds the per-StorageClass maps, if any.
	classes map[string]map[string][]string
}

// Parse reads config.json. Unknown fields, duplicate nodes or paths,
// relative paths and "/" are errors, each naming where it is.
func Parse(data []byte) (*Config, error) {
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", Key, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: data after the JSON object", Key)
	}
	if f.SetupCommand != "" || f.TeardownCommand != "" {
		return nil, fmt.Errorf("%s: setupCommand and teardownCommand are not supported (the helper is the provisioner's own binary)", Key)
	}
	if f.CmdTimeoutSeconds < 0 {
		return nil, fmt.Errorf("%s: cmdTimeoutSeconds %d: must not be negative", Key, f.CmdTimeoutSeconds)
	}
	c := &Config{CmdTimeout: DefaultCmdTimeout}
	if f.CmdTimeoutSeconds > 0 {
		c.CmdTimeout = time.Duration(f.CmdTimeoutSeconds) * time.Second
	}
	var err error
	if len(f.StorageClassConfigs) == 0 {
		if c.nodes, err = canonical(f.ClassConfig); err != nil {
			return nil, fmt.Errorf("%s: %w", Key, err)
		}
		return c, nil
	}
	// k3s: with storageClassConfigs, the top-level map is not used.
	if len(f.NodePathMap) > 0 || f.SharedFileSystemPath != "" {
		return nil, fmt.Errorf("%s: nodePathMap and storageClassConfigs are both set; use one", Key)
	}
	c.classes = map[string]map[string][]string{}
	for class, cc := range f.StorageClassConfigs {
		m, err := canonical(cc)
		if err != nil {
			return nil, fmt.Errorf("%s: storage class %q: %w", Key, class, err)
		}
		c.classes[class] = m
	}
	return c, nil
}

func canonical(cc ClassConfig) (map[string][]string, error) {
	if cc.SharedFileSystemPath != "" {
		return nil, errors.New("sharedFileSystemPath is not supported: use nodePathMap")
	}
	if len(cc.NodePathMap) == 0 {
		return nil, errors.New("nodePathMap is empty")
	}
	m := map[string][]string{}
	for _, n := range cc.NodePathMap {
		if n.Node == "" {
			return nil, errors.New("nodePathMap entry without a node")
		}
		if _, dup := m[n.Node]; dup {
			return nil, fmt.Errorf("duplicate node %v", n.Node)
		}
		paths := make([]string, 0, len(n.Paths))
		for _, p := range n.Paths {
			if !filepath.IsAbs(p) {
				return nil, fmt.Errorf("path must start with / for path %v on node %v", p, n.Node)
			}
			p = filepath.Clean(p)
			if p == "/" {
				return nil, fmt.Errorf("cannot use root ('/') as path on node %v", n.Node)
			}
			if slices.Contains(paths, p) {
				return nil, fmt.Errorf("duplicate path %v on node %v", p, n.Node)
			}
			paths = append(paths, p)
		}
		slices.Sort(paths)
		m[n.Node] = paths
	}
	return m, nil
}

// PathOnNode is the root under which a volume of class goes on node.
// requested is the class's nodePath parameter ("" for any). Of several
// roots one is chosen by a hash of key (the claim's UID), so that a retry
// after a restart picks the same root again and never leaves a directory
// behind on another; different claims still spread over the roots.
func (c *Config) PathOnNode(class, node, requested, key string) (string, error) {
	nodes := c.nodes
	if c.classes != nil {
		var ok bool
		if nodes, ok = c.classes[class]; !ok {
			return "", fmt.Errorf("no configuration for storage class %q in %s", class, Key)
		}
	}
	paths, ok := nodes[node]
	if !ok {
		if paths, ok = nodes[DefaultNode]; !ok {
			return "", fmt.Errorf("config doesn't contain node %v, and no %v available", node, DefaultNode)
		}
	}
	if len(paths) == 0 {
		return "", fmt.Errorf("%w on node %v", ErrNoPath, node)
	}
	if requested != "" {
		requested = filepath.Clean(requested)
		if !slices.Contains(paths, requested) {
			return "", fmt.Errorf("config doesn't contain path %v on node %v", requested, node)
		}
		return requested, nil
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return paths[int(h.Sum32()%uint32(len(paths)))], nil
}

// String summarizes the configuration for logs.
func (c *Config) String() string {
	describe := func(m map[string][]string) string {
		nodes := make([]string, 0, len(m))
		for n := range m {
			nodes = append(nodes, n)
		}
		slices.Sort(nodes)
		parts := make([]string, 0, len(nodes))
		for _, n := range nodes {
			parts = append(parts, n+"="+strings.Join(m[n], ","))
		}
		return strings.Join(parts, " ")
	}
	if c.classes == nil {
		return describe(c.nodes)
	}
	classes := make([]string, 0, len(c.classes))
	for cl := range c.classes {
		classes = append(classes, cl)
	}
	slices.Sort(classes)
	parts := make([]string, 0, len(classes))
	for _, cl := range classes {
		parts = append(parts, cl+": "+describe(c.classes[cl]))
	}
	return strings.Join(parts, "; ")
}
