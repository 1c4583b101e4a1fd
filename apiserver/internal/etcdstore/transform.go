package etcdstore

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Transformer turns an object's JSON into the value etcd keeps and back:
// encryption at rest (package encryption builds them from an
// EncryptionConfiguration). key is the object's etcd key; providers that
// authenticate it (aesgcm) refuse a value copied under another key.
type Transformer interface {
	// TransformToStorage returns the value to store for the JSON data.
	TransformToStorage(data []byte, key string) ([]byte, error)
	// TransformFromStorage returns the JSON a stored value holds. stale
	// reports that the value was not written by the current write provider
	// and key: writing it again re-encrypts it.
	TransformFromStorage(data []byte, key string) (out []byte, stale bool, err error)
}

// Transformers maps a resource's key prefix, as "/registry/secrets/", to
// its Transformer. A resource not in the map is stored as plain JSON.
type Transformers map[string]Transformer

// registryRoot is the part every object key begins with.
const registryRoot = "/registry/"

// For returns the Transformer of the resource key (an object key or a
// prefix under the resource) belongs to, or nil.
func (ts Transformers) For(key string) Transformer {
	if len(ts) == 0 || !strings.HasPrefix(key, registryRoot) {
		return nil
	}
	end := strings.IndexByte(key[len(registryRoot):], '/')
	if end < 0 {
		return nil
	}
	return ts[key[:len(registryRoot)+end+1]]
}

// SetTransformers makes the store encrypt and decrypt the values of the
// resources in ts. Call it before the store is used; without it, values
// are plain JSON and no lookup happens on any request.
func (s *Store) SetTransformers(ts Transformers) {
	s.transformers = ts
}

// toStorage returns what etcd keeps at key for the object JSON data.
func (s *Store) toStorage(key string, data []byte) ([]byte, error) {
	t := s.transformers.For(key)
	if t == nil {
		return data, nil
	}
	out, err := t.TransformToStorage(data, key)
	if err != nil {
		return nil, fmt.Errorf("transform %s to storage: %w", key, err)
	}
	return out, nil
}

// FromStorage returns the object JSON that value, read at key, holds,
// through t when it is not nil. The watch cache decodes etcd's values
// with it too.
func FromStorage(t Transformer, key string, value []byte) (data []byte, stale bool, err error) {
	if t == nil {
		return value, false, nil
	}
	data, stale, err = t.TransformFromStorage(value, key)
	if err != nil {
		return nil, false, fmt.Errorf("transform %s from storage: %w", key, err)
	}
	return data, stale, nil
}

// RewriteStale writes again, through the store's Transformer, every value
// under prefix that its Transformer reports stale: after a new key or
// provider is put first in the encryption configuration, this re-encrypts
// what the old one wrote, as upstream's "kubectl get secrets -A -o json |
// kubectl replace -f -" does. Each write is guarded by the revision read,
// so a value a client changed meanwhile (and so wrote with the current
// provider) is left alone. It returns how many values it rewrote.
func (s *Store) RewriteStale(ctx context.Context, prefix string) (int, error) {
	t := s.transformers.For(prefix)
	if t == nil {
		return 0, nil
	}
	end := clientv3.GetPrefixRangeEnd(prefix)
	from := prefix
	rewritten := 0
	for {
		resp, err := s.client.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(500))
		if err != nil {
			return rewritten, fmt.Errorf("rewrite %s: %w", prefix, translate(err))
		}
		for _, kv := range resp.Kvs {
			key := string(kv.Key)
			data, stale, err := FromStorage(t, key, kv.Value)
			if err != nil {
				return rewritten, fmt.Errorf("rewrite %s: %w", prefix, err)
			}
			if !stale {
				continue
			}
			value, err := s.toStorage(key, data)
			if err != nil {
				return rewritten, err
			}
			tx, err := s.client.Txn(ctx).
				If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
				Then(clientv3.OpPut(key, string(value))).Commit()
			if err != nil {
				return rewritten, fmt.Errorf("rewrite %s: %w", key, translate(err))
			}
			if tx.Succeeded {
				rewritten++
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rewritten, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
