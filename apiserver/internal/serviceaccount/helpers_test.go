package serviceaccount

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const testIssuer = "https://kubernetes.default.svc.cluster.local"

// t0 is the tests' fixed "now".
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

var (
	keysOnce sync.Once
	keys     [2]*rsa.PrivateKey
)

// testKeys returns two real RSA keys, made once: the cluster's and a
// stranger's.
func testKeys(t *testing.T) (ours, theirs *rsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		for i := range keys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys[i] = k
		}
	})
	return keys[0], keys[1]
}

// objects is an in-memory Getter: the real one reads the apiserver's
// stores.
type objects struct {
	sas     map[string]*corev1.ServiceAccount
	pods    map[string]*corev1.Pod
	secrets map[string]*corev1.Secret
	nodes   map[string]*corev1.Node
}

func (o *objects) GetServiceAccount(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	if sa, ok := o.sas[ns+"/"+name]; ok {
		return sa.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("serviceaccounts"), name)
}

func (o *objects) GetPod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	if p, ok := o.pods[ns+"/"+name]; ok {
		return p.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("pods"), name)
}

func (o *objects) GetSecret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if s, ok := o.secrets[ns+"/"+name]; ok {
		return s.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}

func (o *objects) GetNode(_ context.Context, name string) (*corev1.Node, error) {
	if n, ok := o.nodes[name]; ok {
		return n.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("nodes"), name)
}

func meta(ns, name, uid string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}
}

// cluster returns the objects every test starts from: the ServiceAccount
// default/builder, its pod web on node n1, a Secret and the node.
func cluster() *objects {
	pod := &corev1.Pod{ObjectMeta: meta("default", "web", "pod-uid"), Spec: corev1.PodSpec{ServiceAccountName: "builder", NodeName: "n1"}}
	return &objects{
		sas:     map[string]*corev1.ServiceAccount{"default/builder": {ObjectMeta: meta("default", "builder", "sa-uid")}},
		pods:    map[string]*corev1.Pod{"default/web": pod},
		secrets: map[string]*corev1.Secret{"default/s": {ObjectMeta: meta("default", "s", "secret-uid")}},
		nodes:   map[string]*corev1.Node{"n1": {ObjectMeta: meta("", "n1", "node-uid")}},
	}
}

// tokenRequests returns the TokenRequest API over objs, signing with key.
func tokenRequests(t *testing.T, objs *objects) *TokenRequests {
	key, _ := testKeys(t)
	return &TokenRequests{
		Issuer:           &Issuer{Issuer: testIssuer, Signer: key},
		Objects:          objs,
		APIAudiences:     []string{testIssuer},
		ExtendExpiration: true,
		Now:              func() time.Time { return t0 },
	}
}

// request asks for a token for default/builder.
func request(t *testing.T, objs *objects, spec authenticationv1.TokenRequestSpec) *Issued {
	t.Helper()
	out, err := tokenRequests(t, objs).Create(context.Background(), "default", "builder", &authenticationv1.TokenRequest{Spec: spec})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	return out
}

func podRef(name, uid string) *authenticationv1.BoundObjectReference {
	return &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: name, UID: types.UID(uid)}
}
