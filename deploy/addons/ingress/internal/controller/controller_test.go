package controller

import (
	"testing"

	"go.uber.org/zap"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"

	"coracle.dev/addons/ingress/internal/routing"
)

// TestReportTellsEachProblemOnce: a sync runs on every change anywhere
// in the cluster, so an Ingress must not get the same Warning on each;
// a problem that goes away and comes back is news again.
func TestReportTellsEachProblemOnce(t *testing.T) {
	rec := record.NewFakeRecorder(100)
	c := &Controller{cfg: Config{Recorder: rec}, log: zap.NewNop(), reported: map[string]map[routing.Problem]bool{}}
	web := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}}
	gone := routing.Problem{Reason: routing.ReasonServiceNotFound, Message: `service "default/gone" not found`}
	empty := routing.Problem{Reason: routing.ReasonNoReadyEndpoints, Message: `service "default/empty" has no ready endpoints`}
	steps := []struct {
		name     string
		served   []*networkingv1.Ingress
		problems []routing.Problem
		want     []string
	}{
		{"a new problem is told", []*networkingv1.Ingress{web}, []routing.Problem{gone}, []string{"Warning ServiceNotFound " + gone.Message}},
		{"the same problem again is not", []*networkingv1.Ingress{web}, []routing.Problem{gone}, nil},
		{"a second problem is told alone", []*networkingv1.Ingress{web}, []routing.Problem{gone, empty}, []string{"Warning NoReadyEndpoints " + empty.Message}},
		{"problems fixed: nothing to tell", []*networkingv1.Ingress{web}, nil, nil},
		{"a problem back is told again", []*networkingv1.Ingress{web}, []routing.Problem{gone}, []string{"Warning ServiceNotFound " + gone.Message}},
		{"no longer served: forgotten", nil, nil, nil},
		{"served again with the problem: told", []*networkingv1.Ingress{web}, []routing.Problem{gone}, []string{"Warning ServiceNotFound " + gone.Message}},
	}
	for _, s := range steps {
		c.report(s.served, map[string][]routing.Problem{"default/web": s.problems})
		var got []string
		for len(rec.Events) > 0 {
			got = append(got, <-rec.Events)
		}
		if len(got) != len(s.want) || (len(got) > 0 && got[0] != s.want[0]) {
			t.Errorf("%s: events %q, want %q", s.name, got, s.want)
		}
	}
}
