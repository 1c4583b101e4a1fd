package encryption

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/nacl/secretbox"
)

// The prefixes of encrypted values, upstream's: the provider's, then the
// key's name and a colon.
const (
	aescbcPrefix    = "k8s:enc:aescbc:v1:"
	aesgcmPrefix    = "k8s:enc:aesgcm:v1:"
	secretboxPrefix = "k8s:enc:secretbox:v1:"
	// encryptedPrefix begins every encrypted value; the identity provider
	// refuses to read such a value as JSON.
	encryptedPrefix = "k8s:enc:"
)

// valueTransformer is one provider or one key: it encrypts and decrypts
// what follows its prefix.
type valueTransformer interface {
	toStorage(data []byte, key string) ([]byte, error)
	// fromStorage reports stale when the value was read by other than the
	// writing (first) provider or key.
	fromStorage(data []byte, key string) (out []byte, stale bool, err error)
}

// prefixed is a valueTransformer and the prefix of the values it writes.
type prefixed struct {
	prefix []byte
	t      valueTransformer
}

// prefixList writes with its first entry and reads with the entry whose
// prefix the value carries, as upstream's prefixTransformers: a value read
// by any but the first is stale. An entry with an empty prefix (identity)
// that fails is skipped, so a value another entry understands still reads.
type prefixList struct {
	entries []prefixed
	// noMatch is the error for a value no entry reads.
	noMatch error
}

func (l *prefixList) toStorage(data []byte, key string) ([]byte, error) {
	first := l.entries[0]
	out, err := first.t.toStorage(data, key)
	if err != nil {
		return nil, err
	}
	if len(first.prefix) == 0 {
		return out, nil
	}
	value := make([]byte, 0, len(first.prefix)+len(out))
	value = append(value, first.prefix...)
	return append(value, out...), nil
}

func (l *prefixList) fromStorage(data []byte, key string) ([]byte, bool, error) {
	var errs []error
	for i, e := range l.entries {
		if !bytes.HasPrefix(data, e.prefix) {
			continue
		}
		out, stale, err := e.t.fromStorage(data[len(e.prefix):], key)
		if err != nil {
			if len(e.prefix) > 0 {
				errs = append(errs, err)
			}
			continue
		}
		return out, stale || i != 0, nil
	}
	if len(errs) > 0 {
		return nil, false, errors.Join(errs...)
	}
	return nil, false, l.noMatch
}

// Transformer encrypts and decrypts the values of the resources of one
// entry of the configuration. It implements etcdstore.Transformer.
type Transformer struct {
	list *prefixList
}

// TransformToStorage encrypts data, the object at etcd key, with the
// first provider and its first key.
func (t *Transformer) TransformToStorage(data []byte, key string) ([]byte, error) {
	return t.list.toStorage(data, key)
}

// TransformFromStorage decrypts a value with the provider and key its
// prefix names. stale is true when those are not the first ones.
func (t *Transformer) TransformFromStorage(data []byte, key string) ([]byte, bool, error) {
	return t.list.fromStorage(data, key)
}

// newTransformer builds the providers of one resource entry, validated.
func newTransformer(providers []ProviderConfiguration) (*Transformer, error) {
	list := &prefixList{noMatch: errors.New("no matching prefix found")}
	for _, p := range providers {
		var (
			e   prefixed
			err error
		)
		switch {
		case p.AESGCM != nil:
			e, err = keyList(aesgcmPrefix, p.AESGCM.Keys, newGCM, "AES")
		case p.AESCBC != nil:
			e, err = keyList(aescbcPrefix, p.AESCBC.Keys, newCBC, "AES")
		case p.Secretbox != nil:
			e, err = keyList(secretboxPrefix, p.Secretbox.Keys, newSecretbox, "Secretbox")
		case p.Identity != nil:
			e = prefixed{t: identity{}}
		default:
			err = errNoProvider
		}
		if err != nil {
			return nil, err
		}
		list.entries = append(list.entries, e)
	}
	return &Transformer{list: list}, nil
}

// keyList is a provider: its prefix, then one entry per key, each under
// the key's name and a colon.
func keyList(prefix string, keys []Key, newKey func([]byte) (valueTransformer, error), kind string) (prefixed, error) {
	list := &prefixList{noMatch: fmt.Errorf("no matching key was found for the provided %s transformer", kind)}
	for _, k := range keys {
		secret, err := decodeKey(k.Secret)
		if err != nil {
			return prefixed{}, fmt.Errorf("could not obtain secret for named key %s: %w", k.Name, err)
		}
		t, err := newKey(secret)
		if err != nil {
			return prefixed{}, fmt.Errorf("error while creating transformer for named key %s: %w", k.Name, err)
		}
		list.entries = append(list.entries, prefixed{prefix: []byte(k.Name + ":"), t: t})
	}
	return prefixed{prefix: []byte(prefix), t: list}, nil
}

func decodeKey(secret string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(secret)
}

// identity stores JSON as it is, and refuses to take an encrypted value
// for JSON.
type identity struct{}

func (identity) toStorage(data []byte, _ string) ([]byte, error) { return data, nil }

func (identity) fromStorage(data []byte, _ string) ([]byte, bool, error) {
	if bytes.HasPrefix(data, []byte(encryptedPrefix)) {
		return nil, false, errors.New("identity transformer tried to read encrypted data")
	}
	return data, false, nil
}

// cbc is AES-CBC with PKCS#7 padding: a random 16-byte IV, then the
// ciphertext, as upstream's aescbc.
type cbc struct {
	block cipher.Block
}

func newCBC(key []byte) (valueTransformer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cbc{block: block}, nil
}

func (t cbc) toStorage(data []byte, _ string) ([]byte, error) {
	pad := aes.BlockSize - len(data)%aes.BlockSize
	out := make([]byte, aes.BlockSize+len(data)+pad)
	iv := out[:aes.BlockSize]
	if _, err := rand.Read(iv); err != nil {
		return nil, errors.New("unable to read sufficient random bytes")
	}
	copy(out[aes.BlockSize:], data)
	for i := len(out) - pad; i < len(out); i++ {
		out[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(t.block, iv).CryptBlocks(out[aes.BlockSize:], out[aes.BlockSize:])
	return out, nil
}

func (t cbc) fromStorage(data []byte, _ string) ([]byte, bool, error) {
	if len(data) < aes.BlockSize {
		return nil, false, errors.New("the stored data was shorter than the required size")
	}
	iv, body := data[:aes.BlockSize], data[aes.BlockSize:]
	if len(body) == 0 || len(body)%aes.BlockSize != 0 {
		return nil, false, errors.New("the stored data is not a multiple of the block size")
	}
	out := make([]byte, len(body))
	cipher.NewCBCDecrypter(t.block, iv).CryptBlocks(out, body)
	pad := int(out[len(out)-1])
	if pad == 0 || pad > len(out) || pad > aes.BlockSize {
		return nil, false, errors.New("invalid PKCS7 data (empty or not padded)")
	}
	for _, b := range out[len(out)-pad:] {
		if int(b) != pad {
			return nil, false, errors.New("invalid padding on input")
		}
	}
	return out[:len(out)-pad], false, nil
}

// gcm is AES-GCM: a random 12-byte nonce, then the sealed data, with the
// etcd key as additional data, as upstream's aesgcm.
type gcm struct {
	aead cipher.AEAD
}

func newGCM(key []byte) (valueTransformer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return gcm{aead: aead}, nil
}

func (t gcm) toStorage(data []byte, key string) ([]byte, error) {
	n := t.aead.NonceSize()
	out := make([]byte, n, n+len(data)+t.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("failed to write nonce for AES-GCM: %w", err)
	}
	return t.aead.Seal(out, out[:n], data, []byte(key)), nil
}

func (t gcm) fromStorage(data []byte, key string) ([]byte, bool, error) {
	n := t.aead.NonceSize()
	if len(data) < n {
		return nil, false, errors.New("the stored data was shorter than the required size")
	}
	out, err := t.aead.Open(nil, data[:n], data[n:], []byte(key))
	return out, false, err
}

// sbox is NaCl secretbox (XSalsa20-Poly1305): a random 24-byte nonce,
// then the box, as upstream's secretbox.
type sbox struct {
	key [32]byte
}

const secretboxNonceSize = 24

func newSecretbox(key []byte) (valueTransformer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("expected key size 32 for secretbox provider, got %v", len(key))
	}
	var t sbox
	copy(t.key[:], key)
	return t, nil
}

func (t sbox) toStorage(data []byte, _ string) ([]byte, error) {
	var nonce [secretboxNonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("unable to read sufficient random bytes: %w", err)
	}
	return secretbox.Seal(nonce[:], data, &nonce, &t.key), nil
}

func (t sbox) fromStorage(data []byte, _ string) ([]byte, bool, error) {
	if len(data) < secretboxNonceSize+secretbox.Overhead {
		return nil, false, errors.New("the stored data was shorter than the required size")
	}
	var nonce [secretboxNonceSize]byte
	copy(nonce[:], data[:secretboxNonceSize])
	out, ok := secretbox.Open(nil, data[secretboxNonceSize:], &nonce, &t.key)
	if !ok {
		return nil, false, errors.New("output array was not large enough for encryption")
	}
	return out, false, nil
}
