package create

import (
	"bytes"
	"context"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

func TestTokenFlagsValidate(t *testing.T) {
	cases := []struct {
		name    string
		flags   tokenFlags
		sa, ns  string
		wantErr string
	}{
		{"defaults", tokenFlags{}, "app", "default", ""},
		{"everything", tokenFlags{audiences: []string{"a", "b"}, duration: 10 * time.Minute, boundKind: "Secret", boundName: "s", boundUID: "u"}, "app", "dev", ""},
		{"a node binding", tokenFlags{boundKind: "Node", boundName: "n1"}, "app", "dev", ""},
		{"no name", tokenFlags{}, "", "default", "service account name is required"},
		{"no namespace", tokenFlags{}, "app", "", "--namespace is required"},
		{"a negative duration", tokenFlags{duration: -time.Second}, "app", "default", "--duration must be greater than or equal to 0"},
		{"a duration below seconds", tokenFlags{duration: 1500 * time.Millisecond}, "app", "default", "--duration cannot be expressed in units less than seconds"},
		{"an empty audience", tokenFlags{audiences: []string{"a", ""}}, "app", "default", "--audience must not be an empty string"},
		{"a name without a kind", tokenFlags{boundName: "s"}, "app", "default", "--bound-object-name can only be set if --bound-object-kind is provided"},
		{"a uid without a kind", tokenFlags{boundUID: "u"}, "app", "default", "--bound-object-uid can only be set if --bound-object-kind is provided"},
		{"an unsupported kind", tokenFlags{boundKind: "ConfigMap", boundName: "c"}, "app", "default", "supported --bound-object-kind values are Node, Pod, Secret"},
		{"a kind without a name", tokenFlags{boundKind: "Pod"}, "app", "default", "--bound-object-name is required if --bound-object-kind is provided"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.flags.validate(tc.sa, tc.ns)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestTokenRequest(t *testing.T) {
	cases := []struct {
		name  string
		flags tokenFlags
		want  authenticationv1.TokenRequestSpec
	}{
		{"the server chooses lifetime and audience", tokenFlags{}, authenticationv1.TokenRequestSpec{}},
		{"audiences and a lifetime in seconds", tokenFlags{audiences: []string{"https://example.com"}, duration: 10 * time.Minute},
			authenticationv1.TokenRequestSpec{Audiences: []string{"https://example.com"}, ExpirationSeconds: ptr.To[int64](600)}},
		{"bound to a secret", tokenFlags{boundKind: "Secret", boundName: "s", boundUID: "0d4691ed"},
			authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: "s", UID: "0d4691ed"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.flags.request().Spec
			if !equality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("spec %+v, want %+v", got, tc.want)
			}
		})
	}
}

// tokenServer answers TokenRequests for the service account "app" in
// "dev" with token, and 404 for any other.
func tokenServer(token string, got *authenticationv1.TokenRequest) *fake.Clientset {
	c := fake.NewClientset(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "app"}})
	c.PrependReactor("create", "serviceaccounts", func(a clienttesting.Action) (bool, runtime.Object, error) {
		create, ok := a.(clienttesting.CreateActionImpl)
		if !ok || a.GetSubresource() != "token" {
			return false, nil, nil
		}
		if a.GetNamespace() != "dev" || create.Name != "app" {
			return true, nil, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccounts"}, create.Name)
		}
		req := create.Object.(*authenticationv1.TokenRequest)
		*got = *req.DeepCopy()
		out := req.DeepCopy()
		out.Status.Token = token
		return true, out, nil
	})
	return c
}

func TestRequestToken(t *testing.T) {
	var sent authenticationv1.TokenRequest
	c := tokenServer("eyJhbGciOiJSUzI1NiJ9.e30.sig", &sent)
	flags := tokenFlags{audiences: []string{"vault"}, duration: time.Hour}
	out, err := requestToken(context.Background(), c, "dev", "app", flags.request())
	if err != nil {
		t.Fatal(err)
	}
	if out.Status.Token != "eyJhbGciOiJSUzI1NiJ9.e30.sig" {
		t.Errorf("token %q", out.Status.Token)
	}
	if gvk := out.GroupVersionKind(); gvk != authenticationv1.SchemeGroupVersion.WithKind("TokenRequest") {
		t.Errorf("kind %v", gvk)
	}
	if *sent.Spec.ExpirationSeconds != 3600 || sent.Spec.Audiences[0] != "vault" {
		t.Errorf("sent %+v", sent.Spec)
	}

	_, err = requestToken(context.Background(), c, "dev", "nobody", flags.request())
	if err == nil || err.Error() != `failed to create token: serviceaccounts "nobody" not found` {
		t.Errorf("missing account: %v", err)
	}
	_, err = requestToken(context.Background(), tokenServer("", &sent), "dev", "app", flags.request())
	if err == nil || err.Error() != "failed to create token: no token in server response" {
		t.Errorf("empty token: %v", err)
	}
}

// Into a pipe or a file the token prints bare, for $(ctl create token x).
func TestPrintTokenNotATerminal(t *testing.T) {
	var b bytes.Buffer
	printToken(&b, "abc.def.ghi")
	if b.String() != "abc.def.ghi" {
		t.Errorf("printed %q", b.String())
	}
}
