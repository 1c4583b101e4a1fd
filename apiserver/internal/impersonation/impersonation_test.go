package impersonation

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
)

// allowOnly allows the impersonate checks whose "resource/name" it lists.
type allowOnly []string

func (a allowOnly) Authorize(_ context.Context, attrs authz.Attributes) (authz.Decision, string, error) {
	if attrs.Verb == "impersonate" && slices.Contains(a, attrs.Resource+"/"+attrs.Name) {
		return authz.DecisionAllow, "", nil
	}
	return authz.DecisionNoOpinion, "", nil
}

func TestImpersonate(t *testing.T) {
	admin := &authn.User{Name: "admin", Groups: []string{authn.AllAuthenticated}}
	cases := []struct {
		name       string
		headers    map[string][]string
		allow      allowOnly
		wantUser   string
		wantGroups []string
		wantExtra  map[string][]string
		wantCode   int32
		wantMsg    string
	}{
		{name: "user", headers: map[string][]string{"Impersonate-User": {"alice"}}, allow: allowOnly{"users/alice"},
			wantUser: "alice", wantGroups: []string{authn.AllAuthenticated}},
		{name: "user and groups", headers: map[string][]string{"Impersonate-User": {"alice"}, "Impersonate-Group": {"dev", "ops"}},
			allow: allowOnly{"users/alice", "groups/dev", "groups/ops"}, wantUser: "alice", wantGroups: []string{"dev", "ops", authn.AllAuthenticated}},
		{name: "a group refused", headers: map[string][]string{"Impersonate-User": {"alice"}, "Impersonate-Group": {"system:masters"}},
			allow: allowOnly{"users/alice"}, wantCode: http.StatusForbidden,
			wantMsg: `User "admin" cannot impersonate resource "groups" in API group "" at the cluster scope`},
		{name: "user refused", headers: map[string][]string{"Impersonate-User": {"bob"}}, wantCode: http.StatusForbidden,
			wantMsg: `users "bob" is forbidden: User "admin" cannot impersonate resource "users" in API group "" at the cluster scope`},
		{name: "service account gets its groups", headers: map[string][]string{"Impersonate-User": {"system:serviceaccount:ns1:robot"}},
			allow: allowOnly{"serviceaccounts/robot"}, wantUser: "system:serviceaccount:ns1:robot",
			wantGroups: []string{"system:serviceaccounts", "system:serviceaccounts:ns1", authn.AllAuthenticated}},
		{name: "anonymous stays unauthenticated", headers: map[string][]string{"Impersonate-User": {"system:anonymous"}},
			allow: allowOnly{"users/system:anonymous"}, wantUser: "system:anonymous", wantGroups: []string{authn.AllUnauthenticated}},
		{name: "extra", headers: map[string][]string{"Impersonate-User": {"alice"}, "Impersonate-Extra-Scopes": {"view"}},
			allow: allowOnly{"users/alice", "userextras/view"}, wantUser: "alice", wantGroups: []string{authn.AllAuthenticated},
			wantExtra: map[string][]string{"scopes": {"view"}}},
		{name: "group without user", headers: map[string][]string{"Impersonate-Group": {"dev"}}, allow: allowOnly{"groups/dev"},
			wantCode: http.StatusBadRequest, wantMsg: "without impersonating a user"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "/api/v1/pods", nil)
			for k, v := range tc.headers {
				r.Header[http.CanonicalHeaderKey(k)] = v
			}
			u, err := Impersonate(context.Background(), r, admin, authz.Chain{tc.allow})
			if tc.wantCode != 0 {
				if err == nil {
					t.Fatalf("impersonated %+v, want %d", u, tc.wantCode)
				}
				se, ok := err.(apierrors.APIStatus)
				if !ok || se.Status().Code != tc.wantCode || !strings.Contains(se.Status().Message, tc.wantMsg) {
					t.Fatalf("error %v, want %d containing %q", err, tc.wantCode, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.Name != tc.wantUser || !slices.Equal(u.Groups, tc.wantGroups) {
				t.Errorf("user %q in %q, want %q in %q", u.Name, u.Groups, tc.wantUser, tc.wantGroups)
			}
			for k, v := range tc.wantExtra {
				if !slices.Equal(u.Extra[k], v) {
					t.Errorf("extra %q = %q, want %q", k, u.Extra[k], v)
				}
			}
			if Requested(r.Header) {
				t.Error("impersonation headers left on the request")
			}
		})
	}
}
