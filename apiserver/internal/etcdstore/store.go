// Package etcdstore keeps API objects in etcd: one key per object under
// /registry, the value the object's JSON, its resourceVersion the key's etcd
// mod revision. Every write is one etcd transaction guarded by the revision
// the caller read, so concurrent writers never overwrite each other.
//
// A write may carry claims: extra keys created in the same transaction only
// if none of them exists yet (a Service's ClusterIP and NodePorts), and
// releases: keys deleted in the same transaction. Claims make allocation
// atomic with the object that owns it.
//
// A resource may have a Transformer (SetTransformers): its values are then
// encrypted at rest, and every read decrypts them.
//
// Connecting to etcd (or running it embedded) is package etcd's job; the
// Kubernetes object semantics on top of these keys are package
// genericstore's.
package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/runtime"
)

// Claim is a key a write takes for itself, failing if it is already taken.
type Claim struct {
	Key   string
	Value string
}

// Side lists the keys a write claims and releases with the object.
type Side struct {
	Claims   []Claim
	Releases []string
}

// Observer records the latency of one etcd request; op is get, list,
// create, update or delete.
type Observer func(op string, d time.Duration)

// Store reads and writes objects in etcd.
type Store struct {
	client       *clientv3.Client
	observe      Observer
	transformers Transformers
}

// New returns a Store on client. observe may be nil.
func New(client *clientv3.Client, observe Observer) *Store {
	if observe == nil {
		observe = func(string, time.Duration) {}
	}
	return &Store{client: client, observe: observe}
}

// Client returns the etcd client the store uses.
func (s *Store) Client() *clientv3.Client { return s.client }

// Get reads the object at key into into.
func (s *Store) Get(ctx context.Context, key string, into runtime.Object) error {
	start := time.Now()
	resp, err := s.client.Get(ctx, key)
	s.observe("get", time.Since(start))
	if err != nil {
		return fmt.Errorf("get %s: %w", key, translate(err))
	}
	if len(resp.Kvs) == 0 {
		return ErrNotFound
	}
	kv := resp.Kvs[0]
	data, _, err := FromStorage(s.transformers.For(key), key, kv.Value)
	if err != nil {
		return err
	}
	return Decode(data, kv.ModRevision, into)
}

// Create stores obj at key if the key is free, with side's claims and
// releases, and sets obj's resourceVersion to the new revision.
func (s *Store) Create(ctx context.Context, key string, obj runtime.Object, side Side) error {
	data, err := Encode(obj)
	if err != nil {
		return err
	}
	if data, err = s.toStorage(key, data); err != nil {
		return err
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}
	ops := []clientv3.Op{clientv3.OpPut(key, string(data))}
	cmps, ops = side.apply(cmps, ops)
	start := time.Now()
	resp, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Else(side.probes(key)...).Commit()
	s.observe("create", time.Since(start))
	if err != nil {
		return fmt.Errorf("create %s: %w", key, translate(err))
	}
	if !resp.Succeeded {
		if exists(resp, 0) {
			return ErrExists
		}
		return side.failedClaim(resp)
	}
	return SetRevision(obj, resp.Header.Revision)
}

// Update replaces the object at key with obj if the key's mod revision is
// still rev, and sets obj's resourceVersion to the new revision.
func (s *Store) Update(ctx context.Context, key string, obj runtime.Object, rev int64, side Side) error {
	data, err := Encode(obj)
	if err != nil {
		return err
	}
	if data, err = s.toStorage(key, data); err != nil {
		return err
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}
	ops := []clientv3.Op{clientv3.OpPut(key, string(data))}
	cmps, ops = side.apply(cmps, ops)
	start := time.Now()
	resp, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Else(side.probes(key)...).Commit()
	s.observe("update", time.Since(start))
	if err != nil {
		return fmt.Errorf("update %s: %w", key, translate(err))
	}
	if !resp.Succeeded {
		return whyFailed(resp, rev, side)
	}
	return SetRevision(obj, resp.Header.Revision)
}

// Delete removes the object at key if its mod revision is still rev, with
// side's releases, and returns the revision of the deletion.
func (s *Store) Delete(ctx context.Context, key string, rev int64, side Side) (int64, error) {
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}
	ops := []clientv3.Op{clientv3.OpDelete(key)}
	cmps, ops = side.apply(cmps, ops)
	start := time.Now()
	resp, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Else(side.probes(key)...).Commit()
	s.observe("delete", time.Since(start))
	if err != nil {
		return 0, fmt.Errorf("delete %s: %w", key, translate(err))
	}
	if !resp.Succeeded {
		return 0, whyFailed(resp, rev, side)
	}
	return resp.Header.Revision, nil
}

// ListOptions select a page of a list.
type ListOptions struct {
	// Revision reads the list as of that etcd revision; 0 reads the latest.
	Revision int64
	// Limit caps the number of items returned; 0 returns all.
	Limit int64
	// StartKey continues a previous page: the first key to read.
	StartKey string
	// Keep filters items; nil keeps all.
	Keep func(runtime.Object) bool
}

// ListResult is one page of a list.
type ListResult struct {
	Items []runtime.Object
	// Revision is the etcd revision the list was read at.
	Revision int64
	// NextKey is where the next page starts; "" when the list is complete.
	NextKey string
	// Remaining counts the items after this page when it is known
	// (no filter), else -1.
	Remaining int64
}

// List reads the objects under prefix, a page at a time when opts.Limit is
// set. Pages after the first read at the first page's revision, so a paged
// list is one consistent snapshot.
func (s *Store) List(ctx context.Context, prefix string, opts ListOptions, newObj func() runtime.Object) (ListResult, error) {
	end := clientv3.GetPrefixRangeEnd(prefix)
	from := prefix
	if opts.StartKey != "" {
		from = opts.StartKey
	}
	res := ListResult{Revision: opts.Revision, Remaining: -1}
	batch := opts.Limit
	t := s.transformers.For(prefix)
	start := time.Now()
	defer func() { s.observe("list", time.Since(start)) }()
	for {
		getOpts := []clientv3.OpOption{clientv3.WithRange(end)}
		if batch > 0 {
			getOpts = append(getOpts, clientv3.WithLimit(batch))
		}
		if res.Revision > 0 {
			getOpts = append(getOpts, clientv3.WithRev(res.Revision))
		}
		resp, err := s.client.Get(ctx, from, getOpts...)
		if err != nil {
			return ListResult{}, fmt.Errorf("list %s: %w", prefix, translate(err))
		}
		if res.Revision == 0 {
			res.Revision = resp.Header.Revision
		}
		for i, kv := range resp.Kvs {
			data := kv.Value
			if t != nil {
				var err error
				if data, _, err = FromStorage(t, string(kv.Key), kv.Value); err != nil {
					return ListResult{}, fmt.Errorf("list %s: %w", prefix, err)
				}
			}
			obj := newObj()
			if err := Decode(data, kv.ModRevision, obj); err != nil {
				return ListResult{}, fmt.Errorf("list %s: key %s: %w", prefix, kv.Key, err)
			}
			if opts.Keep != nil && !opts.Keep(obj) {
				continue
			}
			res.Items = append(res.Items, obj)
			if opts.Limit > 0 && int64(len(res.Items)) == opts.Limit {
				last := i == len(resp.Kvs)-1
				if last && !resp.More {
					return res, nil
				}
				res.NextKey = string(kv.Key) + "\x00"
				if opts.Keep == nil {
					res.Remaining = resp.Count - int64(i+1)
				}
				return res, nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return res, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		// A filter dropped items: read bigger batches, as Kubernetes does.
		if batch < 10000 {
			batch *= 2
		}
	}
}

// CurrentRevision returns etcd's current revision, read with a quorum.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	resp, err := s.client.Get(ctx, "/registry/\x00revision-probe", clientv3.WithCountOnly())
	if err != nil {
		return 0, translate(err)
	}
	return resp.Header.Revision, nil
}

func (side Side) apply(cmps []clientv3.Cmp, ops []clientv3.Op) ([]clientv3.Cmp, []clientv3.Op) {
	for _, c := range side.Claims {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(c.Key), "=", 0))
		ops = append(ops, clientv3.OpPut(c.Key, c.Value))
	}
	for _, k := range side.Releases {
		ops = append(ops, clientv3.OpDelete(k))
	}
	return cmps, ops
}

// probes read, when a transaction fails, the key and every claim, to say why.
func (side Side) probes(key string) []clientv3.Op {
	ops := []clientv3.Op{clientv3.OpGet(key)}
	for _, c := range side.Claims {
		ops = append(ops, clientv3.OpGet(c.Key, clientv3.WithKeysOnly()))
	}
	return ops
}

func (side Side) failedClaim(resp *clientv3.TxnResponse) error {
	for i, c := range side.Claims {
		if exists(resp, i+1) {
			return &ClaimError{Key: c.Key}
		}
	}
	// Nothing visibly taken: a claim was freed between the two reads.
	return ErrConflict
}

func whyFailed(resp *clientv3.TxnResponse, rev int64, side Side) error {
	if !exists(resp, 0) {
		return ErrNotFound
	}
	if resp.Responses[0].GetResponseRange().Kvs[0].ModRevision != rev {
		return ErrConflict
	}
	return side.failedClaim(resp)
}

func exists(resp *clientv3.TxnResponse, i int) bool {
	if i >= len(resp.Responses) {
		return false
	}
	r := resp.Responses[i].GetResponseRange()
	return r != nil && len(r.Kvs) > 0
}

func translate(err error) error {
	if errors.Is(err, rpctypes.ErrCompacted) {
		return ErrCompacted
	}
	return err
}
