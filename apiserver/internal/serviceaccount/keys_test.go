package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pki", "sa.key")
	key, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok || rsaKey.N.BitLen() != 2048 {
		t.Fatalf("created %T", key)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	data, _ := os.ReadFile(path)
	if b, _ := pem.Decode(data); b == nil || b.Type != "RSA PRIVATE KEY" {
		t.Fatalf("not a PKCS#1 PEM key: %q", data)
	}
	again, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !rsaKey.Equal(again) {
		t.Fatal("second start made a new key")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("left behind %v", entries)
	}
}

func TestLoadOrCreateKeyReadsOtherFormats(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sa.key")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !ec.Equal(key) {
		t.Fatalf("loaded %T", key)
	}

	bad := filepath.Join(t.TempDir(), "sa.key")
	_ = os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, err := LoadOrCreateKey(bad); err == nil {
		t.Fatal("garbage accepted as a key")
	}
}

func TestLoadPublicKeys(t *testing.T) {
	priv, other := testKeys(t)
	dir := t.TempDir()
	write := func(name string, blocks ...*pem.Block) string {
		var data []byte
		for _, b := range blocks {
			data = append(data, pem.EncodeToMemory(b)...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pub, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sa"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &other.PublicKey, other)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := LoadPublicKeys(
		write("sa.pub", &pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		write("both.pem", &pem.Block{Type: "CERTIFICATE", Bytes: cert}, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)}),
	)
	if err != nil {
		t.Fatal(err)
	}
	want := []crypto.PublicKey{&priv.PublicKey, &other.PublicKey, &priv.PublicKey}
	if len(keys) != len(want) {
		t.Fatalf("%d keys", len(keys))
	}
	for i := range want {
		if !want[i].(*rsa.PublicKey).Equal(keys[i]) {
			t.Errorf("key %d differs", i)
		}
	}
	if _, err := LoadPublicKeys(write("empty.pem")); err == nil {
		t.Fatal("a file without keys accepted")
	}
	if _, err := LoadPublicKeys(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing file accepted")
	}
}

// TestKeyIDStability pins the key ID derivation: tokens name their key by
// it, so it may never change. The key and its ID are upstream's test
// vector.
func TestKeyIDStability(t *testing.T) {
	const publicKeyPEM = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA249XwEo9k4tM8fMxV7zx
OhcrP+WvXn917koM5Qr2ZXs4vo26e4ytdlrV0bQ9SlcLpQVSYjIxNfhTZdDt+ecI
zshKuv1gKIxbbLQMOuK1eA/4HALyEkFgmS/tleLJrhc65tKPMGD+pKQ/xhmzRuCG
51RoiMgbQxaCyYxGfNLpLAZK9L0Tctv9a0mJmGIYnIOQM4kC1A1I1n3EsXMWmeJU
j7OTh/AjjCnMnkgvKT2tpKxYQ59PgDgU8Ssc7RDSmSkLxnrv+OrN80j6xrw0OjEi
B4Ycr0PqfzZcvy8efTtFQ/Jnc4Bp1zUtFXt7+QeevePtQ2EcyELXE0i63T1CujRM
WwIDAQAB
-----END PUBLIC KEY-----
`
	path := filepath.Join(t.TempDir(), "sa.pub")
	if err := os.WriteFile(path, []byte(publicKeyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := LoadPublicKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	id, err := KeyID(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := "JHJehTTTZlsspKHT-GaJxK7Kd1NQgZJu3fyK6K_QDYU"; id != want {
		t.Fatalf("key ID %q, want %q", id, want)
	}
}
