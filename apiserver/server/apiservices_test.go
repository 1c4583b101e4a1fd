package server

import (
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)

func TestDesiredAPIServices(t *testing.T) {
	crd := &apiextensionsv1.CustomResourceDefinition{Spec: apiextensionsv1.CustomResourceDefinitionSpec{
		Group: "stable.example.com",
		Versions: []apiextensionsv1.CustomResourceDefinitionVersion{
			{Name: "v1", Served: true}, {Name: "v1beta1", Served: false},
		},
	}}
	got := desiredAPIServices([]schema.GroupVersion{
		{Version: "v1"}, {Group: "apps", Version: "v1"}, {Group: "apiregistration.k8s.io", Version: "v1"},
	}, []*apiextensionsv1.CustomResourceDefinition{crd})
	want := map[string]struct {
		group, version int32
		managed        string
	}{
		"v1.":                   {18000, 1, automanagedOnStart},
		"v1.apps":               {17800, 15, automanagedOnStart},
		"v1.stable.example.com": {crdGroupPriorityMinimum, crdVersionPriority, automanagedAlways},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d APIServices, want %d: %v", len(got), len(want), keys(got))
	}
	for name, w := range want {
		svc := got[name]
		if svc == nil {
			t.Fatalf("no %s in %v", name, keys(got))
		}
		if svc.Spec.GroupPriorityMinimum != w.group || svc.Spec.VersionPriority != w.version || managedBy(svc) != w.managed {
			t.Errorf("%s: priorities %d/%d, managed %q; want %d/%d, %q", name,
				svc.Spec.GroupPriorityMinimum, svc.Spec.VersionPriority, managedBy(svc), w.group, w.version, w.managed)
		}
		if svc.Name != svc.Spec.Version+"."+svc.Spec.Group || svc.Spec.Service != nil {
			t.Errorf("%s: spec %+v is not a local APIService named after its group-version", name, svc.Spec)
		}
	}
}

func keys(m map[string]*apiregistrationv1.APIService) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestDecideAPIService(t *testing.T) {
	gv := schema.GroupVersion{Group: "apps", Version: "v1"}
	onStart := localAPIService(gv, 17800, 15, automanagedOnStart)
	always := localAPIService(gv, 1000, 100, automanagedAlways)
	changed := func(svc *apiregistrationv1.APIService) *apiregistrationv1.APIService {
		c := svc.DeepCopy()
		c.Spec.VersionPriority++
		return c
	}
	byHand := &apiregistrationv1.APIService{ObjectMeta: metav1.ObjectMeta{Name: "v1.apps"}, Spec: changed(onStart).Spec}
	tests := []struct {
		name    string
		desired *apiregistrationv1.APIService
		cur     *apiregistrationv1.APIService
		st      registrationState
		want    apiServiceAction
	}{
		{"neither wanted nor there", nil, nil, registrationState{}, apiServiceKeep},
		{"a missing built-in is created", onStart, nil, registrationState{}, apiServiceCreate},
		{"a built-in deleted after the first sync stays deleted until restart", onStart, nil, registrationState{synced: true}, apiServiceKeep},
		{"a CRD's missing APIService is created", always, nil, registrationState{synced: true}, apiServiceCreate},
		{"a built-in changed by hand is put back at start", onStart, changed(onStart), registrationState{atStart: true}, apiServiceUpdateSpec},
		{"a built-in changed after start is left", onStart, changed(onStart), registrationState{atStart: true, synced: true}, apiServiceKeep},
		{"a CRD's APIService is kept in line", always, changed(always), registrationState{synced: true}, apiServiceUpdateSpec},
		{"an unmanaged APIService is never touched", onStart, byHand, registrationState{atStart: true}, apiServiceKeep},
		{"an unmanaged one is not deleted either", nil, byHand, registrationState{atStart: true}, apiServiceKeep},
		{"a CRD's APIService goes with the CRD", nil, always, registrationState{synced: true}, apiServiceDelete},
		{"a built-in no longer served is deleted at start", nil, onStart, registrationState{atStart: true}, apiServiceDelete},
		{"an onstart one made after start is another server's", nil, onStart, registrationState{}, apiServiceKeep},
		{"in line already", always, always, registrationState{}, apiServiceKeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decideAPIService(tt.desired, tt.cur, tt.st); got != tt.want {
				t.Errorf("decideAPIService = %v, want %v", got, tt.want)
			}
		})
	}
}
