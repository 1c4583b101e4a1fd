package genericstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/etcdstore"
	"coracle.dev/apiserver/internal/watchcache"
)

// ListOptions select and page a list.
type ListOptions struct {
	Namespace            string
	Label                labels.Selector
	Field                fields.Selector
	Limit                int64
	Continue             string
	ResourceVersion      string
	ResourceVersionMatch metav1.ResourceVersionMatch
}

func (o ListOptions) predicate() watchcache.Predicate {
	return watchcache.Predicate{Namespace: o.Namespace, Label: o.Label, Field: o.Field}
}

// continueToken is the opaque `continue` value: the revision of the first
// page and the key, relative to the list prefix, where the next one starts.
// Same shape as Kubernetes' token.
type continueToken struct {
	APIVersion string `json:"v"`
	Revision   int64  `json:"rv"`
	StartKey   string `json:"start"`
}

const tokenVersion = "meta.k8s.io/v1"

func encodeContinue(rev int64, relKey string) string {
	b, _ := json.Marshal(continueToken{APIVersion: tokenVersion, Revision: rev, StartKey: relKey})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(tok string) (continueToken, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return continueToken{}, fmt.Errorf("continue key is not valid: %v", err)
	}
	var t continueToken
	if err := json.Unmarshal(b, &t); err != nil {
		return continueToken{}, fmt.Errorf("continue key is not valid: %v", err)
	}
	if t.APIVersion != tokenVersion {
		return continueToken{}, fmt.Errorf("continue key is not valid: incorrect encoded start resourceVersion (version %s)", t.APIVersion)
	}
	// -1 is the inconsistent continuation a compacted token is answered
	// with: the rest of the list as it is now.
	if (t.Revision <= 0 && t.Revision != inconsistentRevision) || strings.Contains(t.StartKey, "..") {
		return continueToken{}, errors.New("continue key is not valid: bad revision or key")
	}
	return t, nil
}

const continueExpiredMessage = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list."

// inconsistentRevision in a continue token reads the rest of a list at
// the current revision.
const inconsistentRevision = -1

// List returns the kind's list object (PodList, ...) of the objects opts
// selects.
func (s *Store) List(ctx context.Context, opts ListOptions) (runtime.Object, error) {
	prefix := s.desc.NamespacePrefix(opts.Namespace)
	pred := opts.predicate()
	// resourceVersion=0 means "any version": the cache answers, as in
	// Kubernetes, and ignores limit.
	if opts.ResourceVersion == "0" && opts.Continue == "" && s.cache != nil && s.cache.Ready() {
		items, rev := s.cache.List(pred)
		return s.buildList(items, rev, "", -1)
	}
	sopts := etcdstore.ListOptions{Limit: opts.Limit}
	// The key prefix already selects the namespace.
	pred.Namespace = ""
	// Objects are turned into the served version before the selector
	// judges them: a custom resource's selectable fields are its
	// version's, an events.k8s.io Event's are named after its own
	// fields. A kind stored in another version's form gets new objects
	// from the conversion, which replace the stored ones once the page is
	// read.
	var readErr error
	converts := s.desc.ReadAs != nil || s.desc.Storage != nil
	served := map[runtime.Object]runtime.Object{}
	if converts || !pred.Empty() {
		attrFn := watchcache.AttrFunc(s.desc.Fields)
		sopts.Keep = func(obj runtime.Object) bool {
			if converts {
				out, err := s.desc.FromStorage(obj)
				if err != nil {
					readErr = err
					return false
				}
				if out != obj {
					served[obj] = out
				}
				obj = out
			}
			return pred.Empty() || pred.Matches(obj, attrFn)
		}
	}
	if opts.Continue != "" {
		tok, err := decodeContinue(opts.Continue)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if tok.Revision != inconsistentRevision {
			sopts.Revision = tok.Revision
		}
		sopts.StartKey = prefix + tok.StartKey
	} else if opts.ResourceVersion != "" && opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact {
		rev, err := etcdstore.ParseRevision(opts.ResourceVersion)
		if err != nil || rev == 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q for resourceVersionMatch=Exact", opts.ResourceVersion))
		}
		sopts.Revision = rev
	}
	res, err := s.storage.List(ctx, prefix, sopts, s.desc.NewStored)
	if errors.Is(err, etcdstore.ErrCompacted) {
		if opts.Continue != "" {
			// As Kubernetes: 410, with a token that continues from the
			// same key at the current revision, for clients that accept
			// an inconsistent list.
			expired := apierrors.NewResourceExpired(continueExpiredMessage)
			expired.ErrStatus.ListMeta.Continue = encodeContinue(inconsistentRevision, strings.TrimPrefix(sopts.StartKey, prefix))
			return nil, expired
		}
		return nil, apierrors.NewResourceExpired(fmt.Sprintf("resourceVersion %s: %v", opts.ResourceVersion, err))
	}
	if err != nil {
		return nil, s.storageError(err, "")
	}
	if readErr != nil {
		return nil, apierrors.NewInternalError(readErr)
	}
	for i, item := range res.Items {
		if out, ok := served[item]; ok {
			res.Items[i] = out
		}
	}
	next := ""
	if res.NextKey != "" {
		next = encodeContinue(res.Revision, strings.TrimPrefix(res.NextKey, prefix))
	}
	return s.buildList(res.Items, res.Revision, next, res.Remaining)
}

func (s *Store) buildList(items []runtime.Object, rev int64, next string, remaining int64) (runtime.Object, error) {
	list := s.desc.NewList()
	if err := meta.SetList(list, items); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	lm.SetResourceVersion(strconv.FormatInt(rev, 10))
	lm.SetContinue(next)
	if next != "" && remaining >= 0 {
		lm.SetRemainingItemCount(&remaining)
	}
	list.GetObjectKind().SetGroupVersionKind(s.desc.GroupVersion().WithKind(s.desc.Kind + "List"))
	return list, nil
}
