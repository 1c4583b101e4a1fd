package token

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// issued is a token issued at iat for ttl seconds.
func issued(iat time.Time, ttl *int64) *authenticationv1.TokenRequest {
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ttl}}
	life := time.Hour
	if ttl != nil {
		life = time.Duration(*ttl) * time.Second
	}
	tr.Status.ExpirationTimestamp = metav1.NewTime(iat.Add(life))
	return tr
}

func TestNeedsRefresh(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tr     *authenticationv1.TokenRequest
		now    time.Time
		jitter time.Duration
		want   bool
	}{
		{"fresh token is kept", issued(epoch, ptr.To[int64](3607)), epoch.Add(time.Minute), 0, false},
		{"at 79% of its life it is kept", issued(epoch, ptr.To[int64](1000)), epoch.Add(790 * time.Second), 0, false},
		{"past 80% of its life it is renewed", issued(epoch, ptr.To[int64](1000)), epoch.Add(801 * time.Second), 0, true},
		{"jitter brings the renewal forward", issued(epoch, ptr.To[int64](1000)), epoch.Add(795 * time.Second), 10 * time.Second, true},
		{"the projected default of 3607s renews after 48 minutes", issued(epoch, ptr.To[int64](3607)), epoch.Add(2886 * time.Second), 0, true},
		{"a long token is kept for a day", issued(epoch, ptr.To[int64](7*24*3600)), epoch.Add(23 * time.Hour), 0, false},
		{"a long token is renewed after a day", issued(epoch, ptr.To[int64](7*24*3600)), epoch.Add(24*time.Hour + time.Second), 0, true},
		{"an expired token is renewed", issued(epoch, ptr.To[int64](600)), epoch.Add(time.Hour), 0, true},
		{"without expirationSeconds it is kept until it expires", issued(epoch, nil), epoch.Add(59 * time.Minute), 0, false},
		{"without expirationSeconds it is renewed at expiry", issued(epoch, nil), epoch.Add(time.Hour), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NeedsRefresh(tc.now, tc.tr, tc.jitter); got != tc.want {
				t.Errorf("NeedsRefresh = %v, want %v", got, tc.want)
			}
		})
	}
}

// fakeAPI issues numbered tokens, or fails when told.
type fakeAPI struct {
	clock *testingclock.FakeClock
	calls int
	fail  bool
}

func (f *fakeAPI) request(_ context.Context, ns, sa string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	f.calls++
	if f.fail {
		return nil, errors.New("apiserver down")
	}
	out := tr.DeepCopy()
	out.Status.Token = ns + "/" + sa + "#" + string(rune('0'+f.calls))
	out.Status.ExpirationTimestamp = metav1.NewTime(f.clock.Now().Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second))
	return out, nil
}

func podRequest(uid types.UID, audiences ...string) *authenticationv1.TokenRequest {
	return &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences: audiences, ExpirationSeconds: ptr.To[int64](1000),
		BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: "p", UID: uid},
	}}
}

func TestManager(t *testing.T) {
	clk := testingclock.NewFakeClock(epoch)
	api := &fakeAPI{clock: clk}
	m := NewManagerWith(api.request, clk)
	m.jitter = func() time.Duration { return 0 }
	ctx := context.Background()
	get := func(uid types.UID, audiences ...string) string {
		t.Helper()
		tr, err := m.Token(ctx, "ns", "sa", podRequest(uid, audiences...))
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}

	first := get("uid-1")
	if again := get("uid-1"); again != first || api.calls != 1 {
		t.Fatalf("second ask: %q after %d requests, want the cached %q", again, api.calls, first)
	}
	if other := get("uid-1", "vault"); other == first || api.calls != 2 {
		t.Errorf("another audience got %q (%d requests), want a token of its own", other, api.calls)
	}
	if other := get("uid-2"); other == first || api.calls != 3 {
		t.Errorf("another pod got %q (%d requests), want a token of its own", other, api.calls)
	}

	clk.Step(801 * time.Second)
	renewed := get("uid-1")
	if renewed == first || api.calls != 4 {
		t.Fatalf("after 80%% of its life: %q (%d requests), want a new token", renewed, api.calls)
	}

	// A failed renewal keeps the valid token, then fails once it expired.
	api.fail = true
	clk.Step(801 * time.Second)
	if got := get("uid-1"); got != renewed {
		t.Errorf("failed renewal: %q, want the still valid %q", got, renewed)
	}
	clk.Step(188 * time.Second)
	if got := get("uid-1"); got != renewed {
		t.Errorf("failed renewal 12s before expiry: %q, want the still valid %q", got, renewed)
	}
	clk.Step(12 * time.Second)
	if _, err := m.Token(ctx, "ns", "sa", podRequest("uid-1")); err == nil || !strings.Contains(err.Error(), "expired and refresh failed") {
		t.Errorf("expired token with a failing renewal: %v", err)
	}
	if _, err := m.Token(ctx, "ns", "sa", podRequest("uid-9")); err == nil || !strings.Contains(err.Error(), "failed to fetch token") {
		t.Errorf("first request failing: %v", err)
	}

	// Forget drops a pod's tokens; expired ones go by themselves.
	api.fail = false
	get("uid-3")
	before := m.cached()
	m.Forget("uid-3")
	if m.cached() != before-1 {
		t.Errorf("Forget left %d tokens of %d", m.cached(), before)
	}
	clk.Step(time.Hour)
	get("uid-4")
	if m.cached() != 1 {
		t.Errorf("after an hour %d tokens cached, want only the new one", m.cached())
	}
}
