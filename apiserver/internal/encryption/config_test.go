package encryption

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/nacl/secretbox"
)

// Fixed keys of the tests, base64 as the configuration holds them.
var (
	key16  = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 16))
	key32  = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	key32b = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))
	key8   = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{4}, 8))
)

func config(body string) string {
	return "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n" + body
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string // "" for a valid configuration
	}{
		{name: "aescbc then identity", yaml: config(`
resources:
- resources: [secrets]
  providers:
  - aescbc: {keys: [{name: key1, secret: ` + key32 + `}]}
  - identity: {}
`)},
		{name: "every provider and a group wildcard", yaml: config(`
resources:
- resources: [secrets, configmaps]
  providers:
  - aesgcm: {keys: [{name: a, secret: ` + key16 + `}]}
  - secretbox: {keys: [{name: b, secret: ` + key32 + `}]}
  - aescbc: {keys: [{name: c, secret: ` + key16 + `}]}
  - identity: {}
- resources: ["*.apps"]
  providers: [{identity: {}}]
`)},
		{name: "wrong kind", yaml: "apiVersion: apiserver.config.k8s.io/v1\nkind: Policy\nresources: []\n", wantErr: `kind "Policy"`},
		{name: "wrong apiVersion", yaml: "apiVersion: v1\nkind: EncryptionConfiguration\n", wantErr: `apiVersion "v1"`},
		{name: "unknown field is refused", yaml: config(`
resources:
- resources: [secrets]
  provider: [{identity: {}}]
`), wantErr: `unknown field "resources[0].provider"`},
		{name: "no resources", yaml: config("resources: []\n"), wantErr: "resources: Required value: at least one resources is required"},
		{name: "no providers", yaml: config("resources:\n- resources: [secrets]\n"), wantErr: "resources[0].providers: Required value"},
		{name: "empty provider", yaml: config("resources:\n- resources: [secrets]\n  providers: [{}]\n"), wantErr: "provider does not contain any of the expected providers"},
		{name: "two providers in one element", yaml: config(`
resources:
- resources: [secrets]
  providers: [{identity: {}, aescbc: {keys: [{name: k, secret: ` + key32 + `}]}}]
`), wantErr: "more than one provider specified in a single element"},
		{name: "short aescbc key", yaml: config(`
resources:
- resources: [secrets]
  providers: [{aescbc: {keys: [{name: k, secret: ` + key8 + `}]}}]
`), wantErr: `resources[0].providers[0].aescbc.keys[0].secret: Invalid value: "REDACTED": secret is not of the expected length, got 8, expected one of [16 24 32]`},
		{name: "16-byte secretbox key", yaml: config(`
resources:
- resources: [secrets]
  providers: [{secretbox: {keys: [{name: k, secret: ` + key16 + `}]}}]
`), wantErr: "secretbox.keys[0].secret: Invalid value: \"REDACTED\": secret is not of the expected length, got 16, expected one of [32]"},
		{name: "key not base64", yaml: config(`
resources:
- resources: [secrets]
  providers: [{aesgcm: {keys: [{name: k, secret: "not base64!"}]}}]
`), wantErr: "secrets must be base64 encoded"},
		{name: "key without name", yaml: config(`
resources:
- resources: [secrets]
  providers: [{aesgcm: {keys: [{secret: ` + key32 + `}]}}]
`), wantErr: "aesgcm.keys[0].name: Required value: name is a mandatory field for a key"},
		{name: "provider without keys", yaml: config(`
resources:
- resources: [secrets]
  providers: [{aescbc: {keys: []}}]
`), wantErr: "aescbc.keys: Required value: at least one keys is required"},
		{name: "kms is not supported", yaml: config(`
resources:
- resources: [secrets]
  providers: [{kms: {apiVersion: v2, name: plugin, endpoint: "unix:///kms.sock"}}]
`), wantErr: "resources[0].providers[0].kms: Forbidden: KMS providers are not supported"},
		{name: "bare star", yaml: config("resources:\n- resources: ['*']\n  providers: [{identity: {}}]\n"), wantErr: "use '*.' to encrypt all the resources from core API group"},
		{name: "capital letters", yaml: config("resources:\n- resources: [Secrets]\n  providers: [{identity: {}}]\n"), wantErr: "resource name should not contain capital letters"},
		{name: "overlap in one entry", yaml: config("resources:\n- resources: [secrets, '*.']\n  providers: [{identity: {}}]\n"), wantErr: "using overlapping resources"},
		{name: "masked by an earlier wildcard", yaml: config(`
resources:
- resources: ["*.*"]
  providers: [{identity: {}}]
- resources: [secrets]
  providers: [{identity: {}}]
`), wantErr: `resource "secrets" is masked by earlier rule "*.*"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestForMatchesResourceThenGroupThenEverything(t *testing.T) {
	c, err := Parse([]byte(config(`
resources:
- resources: [secrets, deployments.apps]
  providers: [{aescbc: {keys: [{name: k, secret: ` + key32 + `}]}}]
- resources: ["*.batch"]
  providers: [{secretbox: {keys: [{name: k, secret: ` + key32 + `}]}}]
- resources: ["*.*"]
  providers: [{aesgcm: {keys: [{name: k, secret: ` + key32 + `}]}}]
`)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		group, resource, prefix string
	}{
		{"", "secrets", aescbcPrefix},
		{"apps", "deployments", aescbcPrefix},
		{"batch", "jobs", secretboxPrefix},
		{"", "configmaps", aesgcmPrefix},
		{"apps", "replicasets", aesgcmPrefix},
	}
	for _, tt := range tests {
		out, err := c.For(tt.group, tt.resource).TransformToStorage([]byte("{}"), "/registry/x/y")
		if err != nil || !bytes.HasPrefix(out, []byte(tt.prefix+"k:")) {
			t.Errorf("%s.%s: wrote %q (%v), want prefix %q", tt.resource, tt.group, out, err, tt.prefix)
		}
	}
	only, err := Parse([]byte(config("resources:\n- resources: [secrets]\n  providers: [{identity: {}}]\n")))
	if err != nil {
		t.Fatal(err)
	}
	if only.For("", "configmaps") != nil {
		t.Error("a resource the configuration does not name has a transformer")
	}
	if (*Config)(nil).For("", "secrets") != nil {
		t.Error("a nil Config has a transformer")
	}
}

func TestProvidersRoundTrip(t *testing.T) {
	const key = "/registry/secrets/default/s"
	plain := []byte(`{"kind":"Secret","data":{"a":"YQ=="}}`)
	for _, p := range []struct{ provider, prefix string }{
		{"aescbc: {keys: [{name: k1, secret: " + key32 + "}]}", aescbcPrefix + "k1:"},
		{"aescbc: {keys: [{name: k1, secret: " + key16 + "}]}", aescbcPrefix + "k1:"},
		{"aesgcm: {keys: [{name: k1, secret: " + key32 + "}]}", aesgcmPrefix + "k1:"},
		{"secretbox: {keys: [{name: k1, secret: " + key32 + "}]}", secretboxPrefix + "k1:"},
		{"identity: {}", ""},
	} {
		c, err := Parse([]byte(config("resources:\n- resources: [secrets]\n  providers: [{" + p.provider + "}]\n")))
		if err != nil {
			t.Fatal(err)
		}
		tr := c.For("", "secrets")
		stored, err := tr.TransformToStorage(plain, key)
		if err != nil {
			t.Fatalf("%s: %v", p.provider, err)
		}
		if !bytes.HasPrefix(stored, []byte(p.prefix)) || (p.prefix != "" && bytes.Contains(stored, []byte("YQ=="))) {
			t.Fatalf("%s: stored %q", p.provider, stored)
		}
		again, _ := tr.TransformToStorage(plain, key)
		if p.prefix != "" && bytes.Equal(stored, again) {
			t.Errorf("%s: two writes gave the same ciphertext", p.provider)
		}
		out, stale, err := tr.TransformFromStorage(stored, key)
		if err != nil || stale || !bytes.Equal(out, plain) {
			t.Fatalf("%s: read %q stale=%v err=%v", p.provider, out, stale, err)
		}
	}
}

// TestReadsUpstreamLayout decrypts values laid out by hand as upstream's
// transformers write them, so data moves between the two apiservers.
func TestReadsUpstreamLayout(t *testing.T) {
	const key = "/registry/secrets/ns/name"
	plain := []byte(`{"kind":"Secret","apiVersion":"v1"}`)
	raw32 := bytes.Repeat([]byte{2}, 32)
	block, _ := aes.NewCipher(raw32)

	// aescbc: IV, then CBC of the PKCS#7-padded data.
	iv := bytes.Repeat([]byte{9}, aes.BlockSize)
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	padded := append(append([]byte{}, plain...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	cbcOut := make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(cbcOut, padded)
	cbcValue := append([]byte("k8s:enc:aescbc:v1:key1:"), append(iv, cbcOut...)...)

	// aesgcm: nonce, then the sealed data with the etcd key authenticated.
	aead, _ := cipher.NewGCM(block)
	nonce := bytes.Repeat([]byte{7}, aead.NonceSize())
	gcmValue := append([]byte("k8s:enc:aesgcm:v1:key1:"), aead.Seal(append([]byte{}, nonce...), nonce, plain, []byte(key))...)

	// secretbox: 24-byte nonce, then the box.
	var sbNonce [24]byte
	var sbKey [32]byte
	copy(sbKey[:], raw32)
	sbValue := append([]byte("k8s:enc:secretbox:v1:key1:"), secretbox.Seal(append([]byte{}, sbNonce[:]...), plain, &sbNonce, &sbKey)...)

	c, err := Parse([]byte(config(`
resources:
- resources: [secrets]
  providers:
  - aescbc: {keys: [{name: key1, secret: ` + key32 + `}]}
  - aesgcm: {keys: [{name: key1, secret: ` + key32 + `}]}
  - secretbox: {keys: [{name: key1, secret: ` + key32 + `}]}
  - identity: {}
`)))
	if err != nil {
		t.Fatal(err)
	}
	tr := c.For("", "secrets")
	for _, tt := range []struct {
		name      string
		value     []byte
		wantStale bool
	}{
		{"aescbc", cbcValue, false},
		{"aesgcm", gcmValue, true},
		{"secretbox", sbValue, true},
		{"identity", plain, true},
	} {
		out, stale, err := tr.TransformFromStorage(tt.value, key)
		if err != nil || !bytes.Equal(out, plain) || stale != tt.wantStale {
			t.Errorf("%s: read %q stale=%v err=%v", tt.name, out, stale, err)
		}
	}
	if _, _, err := tr.TransformFromStorage(gcmValue, "/registry/secrets/ns/other"); err == nil {
		t.Error("an aesgcm value moved to another key decrypted")
	}
}

func TestKeyRotationMarksOldValuesStale(t *testing.T) {
	const key = "/registry/secrets/ns/s"
	old, err := Parse([]byte(config(`
resources:
- resources: [secrets]
  providers: [{aescbc: {keys: [{name: key1, secret: ` + key32 + `}]}}, {identity: {}}]
`)))
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := Parse([]byte(config(`
resources:
- resources: [secrets]
  providers: [{aescbc: {keys: [{name: key2, secret: ` + key32b + `}, {name: key1, secret: ` + key32 + `}]}}, {identity: {}}]
`)))
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := Parse([]byte(config(`
resources:
- resources: [secrets]
  providers: [{aescbc: {keys: [{name: key2, secret: ` + key32b + `}]}}]
`)))
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte(`{"a":1}`)
	byOld, _ := old.For("", "secrets").TransformToStorage(plain, key)
	out, stale, err := rotated.For("", "secrets").TransformFromStorage(byOld, key)
	if err != nil || !stale || !bytes.Equal(out, plain) {
		t.Fatalf("old key's value under the rotated configuration: %q stale=%v err=%v", out, stale, err)
	}
	byNew, _ := rotated.For("", "secrets").TransformToStorage(plain, key)
	if !bytes.HasPrefix(byNew, []byte("k8s:enc:aescbc:v1:key2:")) {
		t.Fatalf("rotated configuration wrote %q", byNew)
	}
	if _, stale, err := rotated.For("", "secrets").TransformFromStorage(byNew, key); err != nil || stale {
		t.Fatalf("new key's value: stale=%v err=%v", stale, err)
	}
	if _, stale, err := rotated.For("", "secrets").TransformFromStorage(plain, key); err != nil || !stale {
		t.Fatalf("clear value under the rotated configuration: stale=%v err=%v", stale, err)
	}
	if _, _, err := dropped.For("", "secrets").TransformFromStorage(byOld, key); err == nil ||
		!strings.Contains(err.Error(), "no matching key was found for the provided AES transformer") {
		t.Fatalf("value of a removed key: %v", err)
	}
	if _, _, err := dropped.For("", "secrets").TransformFromStorage(plain, key); err == nil ||
		!strings.Contains(err.Error(), "no matching prefix found") {
		t.Fatalf("clear value without identity: %v", err)
	}
}

func TestIdentityRefusesEncryptedValues(t *testing.T) {
	c, err := Parse([]byte(config("resources:\n- resources: [secrets]\n  providers: [{identity: {}}]\n")))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.For("", "secrets").TransformFromStorage([]byte("k8s:enc:aescbc:v1:key1:xxxx"), "/registry/secrets/a/b"); err == nil {
		t.Fatal("identity read an encrypted value")
	}
}

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "encryption-config.yaml")
	c, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	first, _ := os.ReadFile(path)
	const key = "/registry/secrets/ns/s"
	stored, err := c.For("", "secrets").TransformToStorage([]byte("{}"), key)
	if err != nil || !bytes.HasPrefix(stored, []byte("k8s:enc:aescbc:v1:key1:")) {
		t.Fatalf("default configuration wrote %q (%v)", stored, err)
	}
	if c.For("", "configmaps") != nil {
		t.Error("default configuration encrypts configmaps")
	}
	if _, stale, err := c.For("", "secrets").TransformFromStorage([]byte("{}"), key); err != nil || !stale {
		t.Errorf("default configuration reads clear secrets: stale=%v err=%v", stale, err)
	}

	again, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(path)
	if !bytes.Equal(first, second) {
		t.Fatal("LoadOrCreate rewrote an existing configuration")
	}
	if out, _, err := again.For("", "secrets").TransformFromStorage(stored, key); err != nil || string(out) != "{}" {
		t.Fatalf("reloaded configuration reads %q (%v)", out, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only the configuration", len(entries))
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "enc.yaml")
	if err := os.WriteFile(path, []byte(config("resources: []\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}
