package serviceaccount

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// claimsOf reads a token's claims without checking it: what was signed is
// checked by the authenticator tests.
func claimsOf(t *testing.T, token string) (*jwt.Claims, *privateClaims) {
	t.Helper()
	tok, err := jwt.ParseSigned(token, signatureAlgorithms)
	if err != nil {
		t.Fatal(err)
	}
	public, private := &jwt.Claims{}, &privateClaims{}
	if err := tok.UnsafeClaimsWithoutVerification(public, private); err != nil {
		t.Fatal(err)
	}
	return public, private
}

func TestTokenRequestDefaults(t *testing.T) {
	issued := request(t, cluster(), authenticationv1.TokenRequestSpec{})
	tr := issued.TokenRequest
	if tr.Name != "builder" || tr.Namespace != "default" || tr.UID != "sa-uid" || tr.Kind != "TokenRequest" || tr.APIVersion != "authentication.k8s.io/v1" {
		t.Fatalf("metadata %+v %+v", tr.TypeMeta, tr.ObjectMeta)
	}
	if *tr.Spec.ExpirationSeconds != 3600 || !reflect.DeepEqual(tr.Spec.Audiences, []string{testIssuer}) {
		t.Fatalf("spec %+v", tr.Spec)
	}
	if !tr.Status.ExpirationTimestamp.Time.Equal(t0.Add(time.Hour)) || !tr.CreationTimestamp.Time.Equal(t0) {
		t.Fatalf("expiration %v, created %v", tr.Status.ExpirationTimestamp, tr.CreationTimestamp)
	}
	public, private := claimsOf(t, tr.Status.Token)
	if public.Issuer != testIssuer || public.Subject != "system:serviceaccount:default:builder" ||
		!reflect.DeepEqual([]string(public.Audience), []string{testIssuer}) {
		t.Fatalf("claims %+v", public)
	}
	if !public.IssuedAt.Time().Equal(t0) || !public.NotBefore.Time().Equal(t0) || !public.Expiry.Time().Equal(t0.Add(time.Hour)) {
		t.Fatalf("times iat %v nbf %v exp %v", public.IssuedAt.Time(), public.NotBefore.Time(), public.Expiry.Time())
	}
	if issued.CredentialID != "JTI="+public.ID || len(public.ID) != 36 {
		t.Fatalf("jti %q, credential id %q", public.ID, issued.CredentialID)
	}
	want := kubernetesClaims{Namespace: "default", Svcacct: ref{Name: "builder", UID: "sa-uid"}}
	if !reflect.DeepEqual(private.Kubernetes, want) {
		t.Fatalf("kubernetes.io claims %+v", private.Kubernetes)
	}
	if len(issued.Warnings) != 0 {
		t.Fatalf("warnings %v", issued.Warnings)
	}
}

func TestTokenRequestKeyIDHeader(t *testing.T) {
	key, _ := testKeys(t)
	tok, err := jwt.ParseSigned(request(t, cluster(), authenticationv1.TokenRequestSpec{}).TokenRequest.Status.Token, signatureAlgorithms)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := KeyID(&key.PublicKey)
	if h := tok.Headers[0]; h.KeyID != kid || h.Algorithm != "RS256" {
		t.Fatalf("header kid %q alg %q, want %q RS256", h.KeyID, h.Algorithm, kid)
	}
}

func TestTokenRequestBinding(t *testing.T) {
	tests := []struct {
		name      string
		ref       *authenticationv1.BoundObjectReference
		mutate    func(*objects)
		want      kubernetesClaims
		wantError func(error) bool
		message   string
	}{
		{
			name: "pod, with its node",
			ref:  podRef("web", ""),
			want: kubernetesClaims{Pod: &ref{Name: "web", UID: "pod-uid"}, Node: &ref{Name: "n1", UID: "node-uid"}},
		},
		{
			name: "pod with a matching uid",
			ref:  podRef("web", "pod-uid"),
			want: kubernetesClaims{Pod: &ref{Name: "web", UID: "pod-uid"}, Node: &ref{Name: "n1", UID: "node-uid"}},
		},
		{
			name:   "pod whose node is gone names the node only",
			ref:    podRef("web", ""),
			mutate: func(o *objects) { delete(o.nodes, "n1") },
			want:   kubernetesClaims{Pod: &ref{Name: "web", UID: "pod-uid"}, Node: &ref{Name: "n1"}},
		},
		{
			name:   "unscheduled pod",
			ref:    podRef("web", ""),
			mutate: func(o *objects) { o.pods["default/web"].Spec.NodeName = "" },
			want:   kubernetesClaims{Pod: &ref{Name: "web", UID: "pod-uid"}},
		},
		{
			name: "secret",
			ref:  &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Secret", Name: "s"},
			want: kubernetesClaims{Secret: &ref{Name: "s", UID: "secret-uid"}},
		},
		{
			name: "node",
			ref:  &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Node", Name: "n1"},
			want: kubernetesClaims{Node: &ref{Name: "n1", UID: "node-uid"}},
		},
		{
			name:      "missing pod",
			ref:       podRef("nope", ""),
			wantError: apierrors.IsNotFound,
			message:   `pods "nope" not found`,
		},
		{
			name:      "pod recreated",
			ref:       podRef("web", "old-uid"),
			wantError: apierrors.IsConflict,
			message:   `Operation cannot be fulfilled on Pod "web": the UID in the bound object reference (old-uid) does not match the UID in record. The object might have been deleted and then recreated`,
		},
		{
			name:      "pod of another service account",
			ref:       podRef("web", ""),
			mutate:    func(o *objects) { o.pods["default/web"].Spec.ServiceAccountName = "other" },
			wantError: apierrors.IsBadRequest,
			message:   `cannot bind token for serviceaccount "builder" to pod running with different serviceaccount name.`,
		},
		{
			name:      "kind that cannot be bound",
			ref:       &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "ConfigMap", Name: "c"},
			wantError: apierrors.IsBadRequest,
			message:   "cannot bind token to object of type /v1, Kind=ConfigMap",
		},
		{
			name:      "pod of another group",
			ref:       &authenticationv1.BoundObjectReference{APIVersion: "apps/v1", Kind: "Pod", Name: "web"},
			wantError: apierrors.IsBadRequest,
			message:   "cannot bind token to object of type apps/v1, Kind=Pod",
		},
		{
			name:      "no name",
			ref:       &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Secret"},
			wantError: apierrors.IsBadRequest,
			message:   "Name parameter required.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := cluster()
			if tt.mutate != nil {
				tt.mutate(objs)
			}
			out, err := tokenRequests(t, objs).Create(context.Background(), "default", "builder",
				&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: tt.ref}})
			if tt.wantError != nil {
				if !tt.wantError(err) || err.Error() != tt.message {
					t.Fatalf("err = %v, want %q", err, tt.message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, private := claimsOf(t, out.TokenRequest.Status.Token)
			tt.want.Namespace = "default"
			tt.want.Svcacct = ref{Name: "builder", UID: "sa-uid"}
			if !reflect.DeepEqual(private.Kubernetes, tt.want) {
				t.Fatalf("claims %+v, want %+v", private.Kubernetes, tt.want)
			}
		})
	}
}

func TestTokenRequestValidation(t *testing.T) {
	tests := []struct {
		name      string
		ns, sa    string
		req       authenticationv1.TokenRequest
		wantError func(error) bool
		message   string
	}{
		{
			name:      "shorter than ten minutes",
			req:       authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](599)}},
			wantError: apierrors.IsInvalid,
			message:   `TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes`,
		},
		{
			name:      "longer than 2^32 seconds",
			req:       authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](1<<32 + 1)}},
			wantError: apierrors.IsInvalid,
			message:   "may not specify a duration larger than 2^32 seconds",
		},
		{
			name:      "attestations without a webhook",
			req:       authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Attestations: map[string]authenticationv1.AttestationValue{"x": {"y"}}}},
			wantError: apierrors.IsInvalid,
			message:   "attestations may only be specified with a webhook bound object reference",
		},
		{
			name:      "name other than the account's",
			req:       authenticationv1.TokenRequest{ObjectMeta: metav1.ObjectMeta{Name: "other"}},
			wantError: apierrors.IsInvalid,
			message:   `TokenRequest.authentication.k8s.io "builder" is invalid: metadata.name: Invalid value: "other": must match the service account name if specified`,
		},
		{
			name:      "namespace other than the account's",
			req:       authenticationv1.TokenRequest{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system"}},
			wantError: apierrors.IsInvalid,
			message:   "metadata.namespace: Invalid value: \"kube-system\": must match the service account namespace if specified",
		},
		{
			name:      "uid of an older account",
			req:       authenticationv1.TokenRequest{ObjectMeta: metav1.ObjectMeta{UID: "old"}},
			wantError: apierrors.IsConflict,
			message:   `Operation cannot be fulfilled on TokenRequest.authentication.k8s.io "builder": the UID in the token request (old) does not match the UID of the service account (sa-uid)`,
		},
		{
			name:      "missing service account",
			sa:        "ghost",
			wantError: apierrors.IsNotFound,
			message:   `serviceaccounts "ghost" not found`,
		},
		{
			name:      "webhook binding is behind a disabled gate",
			req:       authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration", Name: "w"}}},
			wantError: apierrors.IsBadRequest,
			message:   "cannot bind token to object of type admissionregistration.k8s.io/v1, Kind=ValidatingWebhookConfiguration (feature gate APIServerWebhookAuthenticationToken is disabled)",
		},
		{
			name:      "no namespace",
			ns:        "-",
			wantError: apierrors.IsBadRequest,
			message:   "namespace is required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, sa := "default", "builder"
			if tt.ns == "-" {
				ns = ""
			}
			if tt.sa != "" {
				sa = tt.sa
			}
			_, err := tokenRequests(t, cluster()).Create(context.Background(), ns, sa, &tt.req)
			if !tt.wantError(err) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("err = %v, want %q", err, tt.message)
			}
		})
	}
}

func TestTokenRequestExpiration(t *testing.T) {
	const year = ExpirationExtensionSeconds * time.Second
	tests := []struct {
		name      string
		spec      authenticationv1.TokenRequestSpec
		max       time.Duration
		noExtend  bool
		exp       time.Duration // of the token
		status    time.Duration // status.expirationTimestamp
		warnAfter time.Duration // 0: none
		warning   string
	}{
		{
			name:   "asked for",
			spec:   authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](7200)},
			exp:    2 * time.Hour,
			status: 2 * time.Hour,
		},
		{
			name:    "capped by the maximum",
			spec:    authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](7200)},
			max:     time.Hour,
			exp:     time.Hour,
			status:  time.Hour,
			warning: "requested expiration of 7200 seconds shortened to 3600 seconds",
		},
		{
			name:      "kubelet's projected token is extended to a year",
			spec:      authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3607), BoundObjectRef: podRef("web", "")},
			exp:       year,
			status:    3607 * time.Second,
			warnAfter: 3607 * time.Second,
		},
		{
			name:     "no extension when turned off",
			spec:     authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3607), BoundObjectRef: podRef("web", "")},
			noExtend: true,
			exp:      3607 * time.Second,
			status:   3607 * time.Second,
		},
		{
			name:   "no extension for a token not bound to a pod",
			spec:   authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3607)},
			exp:    3607 * time.Second,
			status: 3607 * time.Second,
		},
		{
			name:   "no extension for another audience",
			spec:   authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3607), BoundObjectRef: podRef("web", ""), Audiences: []string{"vault"}},
			exp:    3607 * time.Second,
			status: 3607 * time.Second,
		},
		{
			name:    "a maximum below the marker lifetime leaves nothing to extend",
			spec:    authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3607), BoundObjectRef: podRef("web", "")},
			max:     time.Hour,
			exp:     time.Hour,
			status:  time.Hour,
			warning: "requested expiration of 3607 seconds shortened to 3600 seconds",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tokenRequests(t, cluster())
			r.MaxExpiration = tt.max
			r.ExtendExpiration = !tt.noExtend
			out, err := r.Create(context.Background(), "default", "builder", &authenticationv1.TokenRequest{Spec: tt.spec})
			if err != nil {
				t.Fatal(err)
			}
			public, private := claimsOf(t, out.TokenRequest.Status.Token)
			if got := public.Expiry.Time().Sub(t0); got != tt.exp {
				t.Errorf("token lives %v, want %v", got, tt.exp)
			}
			if got := out.TokenRequest.Status.ExpirationTimestamp.Time.Sub(t0); got != tt.status {
				t.Errorf("status says %v, want %v", got, tt.status)
			}
			var warnAfter time.Duration
			if w := private.Kubernetes.WarnAfter; w != nil {
				warnAfter = w.Time().Sub(t0)
			}
			if warnAfter != tt.warnAfter {
				t.Errorf("warnafter %v, want %v", warnAfter, tt.warnAfter)
			}
			var warnings []string
			if tt.warning != "" {
				warnings = []string{tt.warning}
			}
			if !reflect.DeepEqual(out.Warnings, warnings) {
				t.Errorf("warnings %q, want %q", out.Warnings, warnings)
			}
		})
	}
}

func TestTokenRequestErrorCodes(t *testing.T) {
	// The HTTP codes the API answers with, as upstream's.
	r := tokenRequests(t, cluster())
	for _, tt := range []struct {
		ref  *authenticationv1.BoundObjectReference
		code int32
	}{
		{podRef("nope", ""), http.StatusNotFound},
		{podRef("web", "x"), http.StatusConflict},
		{&authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Service", Name: "x"}, http.StatusBadRequest},
	} {
		_, err := r.Create(context.Background(), "default", "builder", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: tt.ref}})
		var status apierrors.APIStatus
		if !errors.As(err, &status) || status.Status().Code != tt.code {
			t.Errorf("%+v: %v, want code %d", tt.ref, err, tt.code)
		}
	}
	_, err := r.Create(context.Background(), "default", "builder", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](1)}})
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Code != http.StatusUnprocessableEntity {
		t.Errorf("short expiration: %v", err)
	}
}
