package encryption

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultKeyName names the key LoadOrCreate generates.
const DefaultKeyName = "key1"

// LoadOrCreate loads the configuration at path, or, when there is no file
// there, writes one (mode 0600, its directory 0700) that encrypts Secrets
// with aescbc under a new random 32-byte key named key1 and still reads
// Secrets stored in clear (identity second), and loads that. The apiserver
// calls it for its default configuration in the data directory, so a
// cluster encrypts its Secrets from its first start.
func LoadOrCreate(path string) (*Config, error) {
	_, err := os.Stat(path)
	if err == nil {
		return Load(path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("encryption provider configuration file %q: %w", path, err)
	}
	data, err := DefaultConfig()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	// Write through a temporary file and a link, so a crash never leaves a
	// half-written key behind, and two processes racing on a fresh data
	// directory end up with the same key: the second link fails and that
	// process loads the first one's file.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".encryption-config-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("write encryption provider configuration: %w", err)
	}
	return Load(path)
}

// DefaultConfig returns a new configuration that encrypts Secrets with
// aescbc under a fresh random key and reads clear Secrets too, as YAML.
func DefaultConfig() ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate encryption key: %w", err)
	}
	return fmt.Appendf(nil, `# Secrets are encrypted at rest with the first provider and key below;
# every provider and key listed can still decrypt. To rotate: add a new
# key first, restart the apiserver (it rewrites every Secret with the new
# key), then remove the old key and restart again.
apiVersion: %s
kind: %s
resources:
  - resources:
      - secrets
    providers:
      - aescbc:
          keys:
            - name: %s
              secret: %s
      - identity: {}
`, APIVersion, Kind, DefaultKeyName, base64.StdEncoding.EncodeToString(key)), nil
}
