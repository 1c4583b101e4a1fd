package server

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"

	"coracle.dev/apiserver/internal/kinds"
)

// An EncryptionConfiguration naming core events apart from "*.*" keeps
// them as it says, although events.k8s.io Events, served from the same
// prefix and registered after them, match only "*.*".
func TestEncryptionSecondViewKeepsStoredKindsTransformer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "encryption.yaml")
	config := `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [events]
  providers: [{identity: {}}]
- resources: ["*.*"]
  providers: [{aescbc: {keys: [{name: key1, secret: MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=}]}}]
`
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	reg, err := kinds.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{cfg: Config{EncryptionProviderConfig: path}, registry: reg, log: zap.NewNop()}
	ts, err := s.encryption()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		prefix    string
		encrypted bool
	}{
		{"/registry/events/", false},
		{"/registry/secrets/", true},
		{"/registry/horizontalpodautoscalers/", true},
	}
	for _, tt := range tests {
		tr := ts[tt.prefix]
		if tr == nil {
			t.Errorf("%s: no transformer", tt.prefix)
			continue
		}
		out, err := tr.TransformToStorage([]byte(`{"kind":"Event"}`), tt.prefix+"ns/a")
		if err != nil {
			t.Fatalf("%s: %v", tt.prefix, err)
		}
		if got := bytes.HasPrefix(out, []byte("k8s:enc:aescbc:v1:key1:")); got != tt.encrypted {
			t.Errorf("%s: encrypted %v, want %v (%q)", tt.prefix, got, tt.encrypted, out)
		}
	}
}
