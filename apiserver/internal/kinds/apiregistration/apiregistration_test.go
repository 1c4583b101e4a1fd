package apiregistration

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

func remoteService() *apiregistrationv1.APIService {
	return &apiregistrationv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: "v1alpha1.wardle.example.com"},
		Spec: apiregistrationv1.APIServiceSpec{
			Group: "wardle.example.com", Version: "v1alpha1",
			Service:              &apiregistrationv1.ServiceReference{Namespace: "wardle", Name: "api"},
			CABundle:             []byte("-----BEGIN CERTIFICATE-----"),
			GroupPriorityMinimum: 2000, VersionPriority: 200,
		},
	}
}

func localService() *apiregistrationv1.APIService {
	return &apiregistrationv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: "v1.apps"},
		Spec:       apiregistrationv1.APIServiceSpec{Group: "apps", Version: "v1", GroupPriorityMinimum: 17800, VersionPriority: 15},
	}
}

func TestValidateRemote(t *testing.T) {
	kindstest.Create(t, APIServices().Strategy, remoteService, []kindstest.Case[*apiregistrationv1.APIService]{
		{Name: "remote service is valid", Mutate: func(*apiregistrationv1.APIService) {}},
		{Name: "insecureSkipTLSVerify without a caBundle is valid", Mutate: func(s *apiregistrationv1.APIService) {
			s.Spec.CABundle, s.Spec.InsecureSkipTLSVerify = nil, true
		}},
		{Name: "name is version.group", Mutate: func(s *apiregistrationv1.APIService) { s.Name = "wardle" },
			Path: "metadata.name", Type: field.ErrorTypeInvalid},
		{Name: "only v1 has an empty group", Mutate: func(s *apiregistrationv1.APIService) {
			s.Name, s.Spec.Group, s.Spec.Version = "v2.", "", "v2"
		}, Path: "spec.group", Type: field.ErrorTypeRequired},
		{Name: "group is a DNS subdomain", Mutate: func(s *apiregistrationv1.APIService) {
			s.Name, s.Spec.Group = "v1alpha1.Wardle", "Wardle"
		}, Path: "spec.group", Type: field.ErrorTypeInvalid},
		{Name: "version is a DNS label", Mutate: func(s *apiregistrationv1.APIService) {
			s.Name, s.Spec.Version = "1alpha.wardle.example.com", "1alpha"
		}, Path: "spec.version", Type: field.ErrorTypeInvalid},
		{Name: "groupPriorityMinimum is positive", Mutate: func(s *apiregistrationv1.APIService) { s.Spec.GroupPriorityMinimum = 0 },
			Path: "spec.groupPriorityMinimum", Type: field.ErrorTypeInvalid},
		{Name: "groupPriorityMinimum is at most 20000", Mutate: func(s *apiregistrationv1.APIService) { s.Spec.GroupPriorityMinimum = 20001 },
			Path: "spec.groupPriorityMinimum", Type: field.ErrorTypeInvalid},
		{Name: "versionPriority is at most 1000", Mutate: func(s *apiregistrationv1.APIService) { s.Spec.VersionPriority = 1001 },
			Path: "spec.versionPriority", Type: field.ErrorTypeInvalid},
		{Name: "service namespace is required", Mutate: func(s *apiregistrationv1.APIService) { s.Spec.Service.Namespace = "" },
			Path: "spec.service.namespace", Type: field.ErrorTypeRequired},
		{Name: "service name is required", Mutate: func(s *apiregistrationv1.APIService) { s.Spec.Service.Name = "" },
			Path: "spec.service.name", Type: field.ErrorTypeRequired},
		{Name: "service port is a port", Mutate: func(s *apiregistrationv1.APIService) { s.Spec.Service.Port = ptr.To[int32](70000) },
			Path: "spec.service.port", Type: field.ErrorTypeInvalid},
		{Name: "caBundle and insecureSkipTLSVerify exclude each other", Mutate: func(s *apiregistrationv1.APIService) {
			s.Spec.InsecureSkipTLSVerify = true
		}, Path: "spec.insecureSkipTLSVerify", Type: field.ErrorTypeInvalid},
	})
}

func TestValidateLocal(t *testing.T) {
	kindstest.Create(t, APIServices().Strategy, localService, []kindstest.Case[*apiregistrationv1.APIService]{
		{Name: "local service is valid", Mutate: func(*apiregistrationv1.APIService) {}},
		{Name: "the core group is v1.", Mutate: func(s *apiregistrationv1.APIService) { s.Name, s.Spec.Group = "v1.", "" }},
		{Name: "local services have no caBundle", Mutate: func(s *apiregistrationv1.APIService) { s.Spec.CABundle = []byte("x") },
			Path: "spec.caBundle", Type: field.ErrorTypeInvalid},
		{Name: "local services do not skip TLS verification", Mutate: func(s *apiregistrationv1.APIService) { s.Spec.InsecureSkipTLSVerify = true },
			Path: "spec.insecureSkipTLSVerify", Type: field.ErrorTypeInvalid},
	})
	kindstest.Update(t, APIServices().Strategy, localService, "", []kindstest.Case[*apiregistrationv1.APIService]{
		{Name: "priorities may change", Mutate: func(s *apiregistrationv1.APIService) { s.Spec.VersionPriority = 20 }},
		{Name: "the group may not drift from the name", Mutate: func(s *apiregistrationv1.APIService) { s.Spec.Group = "batch" },
			Path: "metadata.name", Type: field.ErrorTypeInvalid},
	})
}

// TestStoreMetadataNotRepeated: metadata errors the store reports itself
// (a bad label) do not come back a second time from the strategy.
func TestStoreMetadataNotRepeated(t *testing.T) {
	s := localService()
	s.Labels = map[string]string{"bad key!": "x"}
	if errs := APIServices().Strategy.Validate(s); len(errs) != 0 {
		t.Fatalf("want the store's errors only, got %v", errs)
	}
}

func TestPrepareForCreate(t *testing.T) {
	st := APIServices().Strategy
	local := localService()
	local.Status.Conditions = []apiregistrationv1.APIServiceCondition{{Type: "Bogus", Status: apiregistrationv1.ConditionTrue}}
	st.PrepareForCreate(local)
	if c := local.Status.Conditions; len(c) != 1 || c[0].Type != apiregistrationv1.Available || c[0].Status != apiregistrationv1.ConditionTrue || c[0].Reason != "Local" {
		t.Errorf("local conditions = %+v, want only Available True (Local)", c)
	}
	remote := remoteService()
	remote.Status = local.Status
	st.Default(remote)
	st.PrepareForCreate(remote)
	if len(remote.Status.Conditions) != 0 {
		t.Errorf("remote conditions = %+v, want none until checked", remote.Status.Conditions)
	}
	if p := remote.Spec.Service.Port; p == nil || *p != 443 {
		t.Errorf("port = %v, want the default 443", p)
	}
}

func TestStatusUpdate(t *testing.T) {
	st := strategy{}
	old := remoteService()
	old.Labels = map[string]string{"team": "wardle"}
	obj := old.DeepCopy()
	obj.Labels = map[string]string{"team": "other"}
	obj.Status.Conditions = []apiregistrationv1.APIServiceCondition{{Type: apiregistrationv1.Available, Status: "Maybe"}}
	st.PrepareForSubresourceUpdate("status", obj, old)
	if obj.Labels["team"] != "wardle" {
		t.Errorf("labels = %v, want the old ones kept", obj.Labels)
	}
	kindstest.WantErr(t, st.ValidateSubresourceUpdate("status", obj, old), "status.conditions[0].status", field.ErrorTypeNotSupported)
	obj.Status.Conditions[0].Status = apiregistrationv1.ConditionFalse
	kindstest.WantErr(t, st.ValidateSubresourceUpdate("status", obj, old), "", "")
}
