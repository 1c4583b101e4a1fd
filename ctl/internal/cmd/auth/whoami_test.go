package auth

import (
	"bytes"
	"context"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authenticationv1beta1 "k8s.io/api/authentication/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

func TestPrintUserInfo(t *testing.T) {
	cases := []struct {
		name string
		user authenticationv1.UserInfo
		want string
	}{
		{"the admin", authenticationv1.UserInfo{Username: "kubernetes-admin", Groups: []string{"system:masters", "system:authenticated"}},
			"ATTRIBUTE   VALUE\nUsername    kubernetes-admin\nGroups      [system:masters system:authenticated]\n"},
		{"a service account with its uid and extras in key order",
			authenticationv1.UserInfo{
				Username: "system:serviceaccount:dev:app", UID: "0d4691ed",
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:dev", "system:authenticated"},
				Extra: map[string]authenticationv1.ExtraValue{
					"authentication.kubernetes.io/pod-name":  {"app-1"},
					"authentication.kubernetes.io/node-name": {"n1"},
				},
			},
			`ATTRIBUTE                                       VALUE
Username                                        system:serviceaccount:dev:app
UID                                             0d4691ed
Groups                                          [system:serviceaccounts system:serviceaccounts:dev system:authenticated]
Extra: authentication.kubernetes.io/node-name   [n1]
Extra: authentication.kubernetes.io/pod-name    [app-1]
`},
		{"nobody", authenticationv1.UserInfo{}, "ATTRIBUTE   VALUE\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printUserInfo(&b, tc.user); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("printed:\n%s\nwant:\n%s", b.String(), tc.want)
			}
		})
	}
}

// reviewer answers SelfSubjectReviews of the versions in serve with
// user, and 404 for the others, or err for every version.
func reviewer(user authenticationv1.UserInfo, err error, serve ...string) *fake.Clientset {
	c := fake.NewClientset()
	c.PrependReactor("create", "selfsubjectreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if err != nil {
			return true, nil, err
		}
		v := a.GetResource().Version
		served := false
		for _, s := range serve {
			served = served || s == v
		}
		if !served {
			return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"}, "")
		}
		if v == "v1beta1" {
			return true, &authenticationv1beta1.SelfSubjectReview{Status: authenticationv1beta1.SelfSubjectReviewStatus{UserInfo: user}}, nil
		}
		return true, &authenticationv1.SelfSubjectReview{Status: authenticationv1.SelfSubjectReviewStatus{UserInfo: user}}, nil
	})
	return c
}

func TestSelfSubjectReview(t *testing.T) {
	alice := authenticationv1.UserInfo{Username: "alice", Groups: []string{"system:authenticated"}}
	cases := []struct {
		name    string
		client  *fake.Clientset
		wantGVK schema.GroupVersionKind
		wantErr string
	}{
		{"v1", reviewer(alice, nil, "v1"), authenticationv1.SchemeGroupVersion.WithKind("SelfSubjectReview"), ""},
		{"falls back to v1beta1", reviewer(alice, nil, "v1beta1"), authenticationv1beta1.SchemeGroupVersion.WithKind("SelfSubjectReview"), ""},
		{"not served", reviewer(alice, nil), schema.GroupVersionKind{}, "the selfsubjectreviews API is not enabled in the cluster"},
		{"forbidden", reviewer(alice, apierrors.NewForbidden(schema.GroupResource{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"}, "", nil)),
			schema.GroupVersionKind{}, "the selfsubjectreviews API is not enabled in the cluster or you do not have permission to call it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := selfSubjectReview(context.Background(), tc.client)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if gvk := got.GetObjectKind().GroupVersionKind(); gvk != tc.wantGVK {
				t.Errorf("kind %v, want %v", gvk, tc.wantGVK)
			}
			if u := userInfo(got); u.Username != "alice" {
				t.Errorf("user %+v", u)
			}
		})
	}
}
