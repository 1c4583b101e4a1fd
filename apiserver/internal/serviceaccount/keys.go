// Package serviceaccount issues and checks ServiceAccount tokens as
// kube-apiserver does: signed JWTs bound to a ServiceAccount and, often, to
// the Pod, Secret or Node they were asked for (the TokenRequest API,
// serviceaccounts/token); the authenticator that turns such a token back
// into the account's user while the objects it names still exist; the
// OpenID discovery documents that let others verify the tokens; and the
// ServiceAccount admission plugin that gives every pod an account and a
// projected volume holding its token.
package serviceaccount

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"k8s.io/client-go/util/keyutil"
)

// keyBits is the size of a created signing key, kubeadm's sa.key.
const keyBits = 2048

// LoadOrCreateKey returns the PEM private key at path (RSA or ECDSA, PKCS#1,
// PKCS#8 or SEC 1, as --service-account-signing-key-file), first creating
// an RSA 2048 key there, mode 0600, when there is none. Two apiservers
// starting on one directory agree on one key: a created key only lands
// where no file is.
func LoadOrCreateKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createKey(path); err != nil {
			return nil, fmt.Errorf("create service account key %s: %w", path, err)
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read service account key: %w", err)
	}
	key, err := keyutil.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("service account key %s: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("service account key %s: %T is not a signing key", path, key)
	}
	return signer, nil
}

// createKey writes a new RSA key to path unless a file appeared there
// meanwhile: the key goes to a temporary file that is then hard-linked
// into place, which fails rather than replace another process's key.
func createKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return err
	}
	pemBytes, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".sa-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(pemBytes); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// LoadPublicKeys reads the verification keys of --service-account-key-file:
// each file holds PEM public keys, certificates or private keys (whose
// public half is used), RSA or ECDSA, as Kubernetes' keyutil reads them.
func LoadPublicKeys(paths ...string) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	for _, p := range paths {
		found, err := keyutil.PublicKeysFromFile(p)
		if err != nil {
			return nil, err
		}
		for _, k := range found {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// KeyID is the "kid" of tokens a key signs and of its JWK, as Kubernetes
// derives it: the unpadded base64url SHA-256 of the public key's PKIX DER.
// A hash, so that nobody mistakes the ID for the key itself.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("failed to serialize public key to DER format: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// publicKey is a verification key with its ID.
type publicKey struct {
	id  string
	key crypto.PublicKey
}

// indexKeys returns keys with their IDs, the public half of any private
// key, each key once (the signer's own key is usually also in the key
// files).
func indexKeys(keys []crypto.PublicKey) ([]publicKey, error) {
	var out []publicKey
	seen := map[string]bool{}
	for _, k := range keys {
		if priv, ok := k.(interface{ Public() crypto.PublicKey }); ok {
			k = priv.Public()
		}
		id, err := KeyID(k)
		if err != nil {
			return nil, err
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, publicKey{id: id, key: k})
	}
	return out, nil
}
