package flowcontrol

import (
	"testing"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	flowcontrolv1beta3 "k8s.io/api/flowcontrol/v1beta3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

type fs = *flowcontrolv1.FlowSchema
type pl = *flowcontrolv1.PriorityLevelConfiguration

// newFlowSchema is a valid schema sending one user's requests to one
// level.
func newFlowSchema() fs {
	return &flowcontrolv1.FlowSchema{
		ObjectMeta: metav1.ObjectMeta{Name: "noxu"},
		Spec: flowcontrolv1.FlowSchemaSpec{
			PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "tiny"},
			MatchingPrecedence:         500,
			DistinguisherMethod:        &flowcontrolv1.FlowDistinguisherMethod{Type: flowcontrolv1.FlowDistinguisherMethodByUserType},
			Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
				Subjects: []flowcontrolv1.Subject{{Kind: flowcontrolv1.SubjectKindUser, User: &flowcontrolv1.UserSubject{Name: "noxu"}}},
				ResourceRules: []flowcontrolv1.ResourcePolicyRule{{
					Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}, Namespaces: []string{"default"},
				}},
				NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"/healthz", "/apis/*"}}},
			}},
		},
	}
}

func TestFlowSchemaDefaults(t *testing.T) {
	f := newFlowSchema()
	f.Spec.MatchingPrecedence = 0
	FlowSchemas().Strategy.Default(f)
	if f.Spec.MatchingPrecedence != DefaultMatchingPrecedence {
		t.Errorf("matchingPrecedence = %d, want %d", f.Spec.MatchingPrecedence, DefaultMatchingPrecedence)
	}
}

func TestFlowSchemaValidate(t *testing.T) {
	rule := func(f fs) *flowcontrolv1.PolicyRulesWithSubjects { return &f.Spec.Rules[0] }
	kindstest.Create(t, FlowSchemas().Strategy, newFlowSchema, []kindstest.Case[fs]{
		{Name: "a user's schema is valid", Mutate: func(f fs) {}},
		{Name: "matchingPrecedence 0 is defaulted", Mutate: func(f fs) { f.Spec.MatchingPrecedence = 0 }},
		{Name: "matchingPrecedence must be positive", Mutate: func(f fs) { f.Spec.MatchingPrecedence = -1 },
			Path: "spec.matchingPrecedence", Type: field.ErrorTypeInvalid},
		{Name: "matchingPrecedence at most 10000", Mutate: func(f fs) { f.Spec.MatchingPrecedence = 10001 },
			Path: "spec.matchingPrecedence", Type: field.ErrorTypeInvalid},
		{Name: "only exempt has matchingPrecedence 1", Mutate: func(f fs) { f.Spec.MatchingPrecedence = 1 },
			Path: "spec.matchingPrecedence", Type: field.ErrorTypeInvalid},
		{Name: "distinguisher method is ByUser or ByNamespace", Mutate: func(f fs) { f.Spec.DistinguisherMethod.Type = "ByColour" },
			Path: "spec.distinguisherMethod.type", Type: field.ErrorTypeNotSupported},
		{Name: "a priority level is required", Mutate: func(f fs) { f.Spec.PriorityLevelConfiguration.Name = "" },
			Path: "spec.priorityLevelConfiguration.name", Type: field.ErrorTypeRequired},
		{Name: "the priority level is a DNS subdomain", Mutate: func(f fs) { f.Spec.PriorityLevelConfiguration.Name = "Tiny_Level" },
			Path: "spec.priorityLevelConfiguration.name", Type: field.ErrorTypeInvalid},
		{Name: "a rule needs subjects", Mutate: func(f fs) { rule(f).Subjects = nil },
			Path: "spec.rules[0].subjects", Type: field.ErrorTypeRequired},
		{Name: "a rule needs resource or non-resource rules", Mutate: func(f fs) { rule(f).ResourceRules, rule(f).NonResourceRules = nil, nil },
			Path: "spec.rules[0]", Type: field.ErrorTypeRequired},
		{Name: "subject kind is known", Mutate: func(f fs) { rule(f).Subjects[0].Kind = "Robot" },
			Path: "spec.rules[0].subjects[0].kind", Type: field.ErrorTypeNotSupported},
		{Name: "a User subject names the user", Mutate: func(f fs) { rule(f).Subjects[0].User = nil },
			Path: "spec.rules[0].subjects[0].user", Type: field.ErrorTypeRequired},
		{Name: "a User subject has a user name", Mutate: func(f fs) { rule(f).Subjects[0].User.Name = "" },
			Path: "spec.rules[0].subjects[0].user.name", Type: field.ErrorTypeRequired},
		{Name: "a User subject has no group", Mutate: func(f fs) { rule(f).Subjects[0].Group = &flowcontrolv1.GroupSubject{Name: "g"} },
			Path: "spec.rules[0].subjects[0].group", Type: field.ErrorTypeForbidden},
		{Name: "a Group subject has no user", Mutate: func(f fs) {
			rule(f).Subjects[0].Kind, rule(f).Subjects[0].Group = flowcontrolv1.SubjectKindGroup, &flowcontrolv1.GroupSubject{Name: "g"}
		}, Path: "spec.rules[0].subjects[0].user", Type: field.ErrorTypeForbidden},
		{Name: "a ServiceAccount subject needs a namespace", Mutate: func(f fs) {
			rule(f).Subjects[0] = flowcontrolv1.Subject{Kind: flowcontrolv1.SubjectKindServiceAccount,
				ServiceAccount: &flowcontrolv1.ServiceAccountSubject{Name: "*"}}
		}, Path: "spec.rules[0].subjects[0].serviceAccount.namespace", Type: field.ErrorTypeRequired},
		{Name: "a ServiceAccount subject's name is a service account name", Mutate: func(f fs) {
			rule(f).Subjects[0] = flowcontrolv1.Subject{Kind: flowcontrolv1.SubjectKindServiceAccount,
				ServiceAccount: &flowcontrolv1.ServiceAccountSubject{Name: "Not/Valid", Namespace: "kube-system"}}
		}, Path: "spec.rules[0].subjects[0].serviceAccount.name", Type: field.ErrorTypeInvalid},
		{Name: "verbs are required", Mutate: func(f fs) { rule(f).ResourceRules[0].Verbs = nil },
			Path: "spec.rules[0].resourceRules[0].verbs", Type: field.ErrorTypeRequired},
		{Name: "verbs are Kubernetes'", Mutate: func(f fs) { rule(f).ResourceRules[0].Verbs = []string{"get", "escalate"} },
			Path: "spec.rules[0].resourceRules[0].verbs", Type: field.ErrorTypeNotSupported},
		{Name: "'*' stands alone among verbs", Mutate: func(f fs) { rule(f).ResourceRules[0].Verbs = []string{"*", "get"} },
			Path: "spec.rules[0].resourceRules[0].verbs", Type: field.ErrorTypeInvalid},
		{Name: "api groups are required", Mutate: func(f fs) { rule(f).ResourceRules[0].APIGroups = nil },
			Path: "spec.rules[0].resourceRules[0].apiGroups", Type: field.ErrorTypeRequired},
		{Name: "resources are required", Mutate: func(f fs) { rule(f).ResourceRules[0].Resources = nil },
			Path: "spec.rules[0].resourceRules[0].resources", Type: field.ErrorTypeRequired},
		{Name: "'*' stands alone among resources", Mutate: func(f fs) { rule(f).ResourceRules[0].Resources = []string{"pods", "*"} },
			Path: "spec.rules[0].resourceRules[0].resources", Type: field.ErrorTypeInvalid},
		{Name: "a namespaced rule names namespaces", Mutate: func(f fs) { rule(f).ResourceRules[0].Namespaces = nil },
			Path: "spec.rules[0].resourceRules[0].namespaces", Type: field.ErrorTypeRequired},
		{Name: "a cluster-scoped rule needs no namespace", Mutate: func(f fs) {
			rule(f).ResourceRules[0].Namespaces, rule(f).ResourceRules[0].ClusterScope = nil, true
		}},
		{Name: "namespaces are DNS labels", Mutate: func(f fs) { rule(f).ResourceRules[0].Namespaces = []string{"Kube.System"} },
			Path: "spec.rules[0].resourceRules[0].namespaces[0]", Type: field.ErrorTypeInvalid},
		{Name: "non-resource URLs are required", Mutate: func(f fs) { rule(f).NonResourceRules[0].NonResourceURLs = nil },
			Path: "spec.rules[0].nonResourceRules[0].nonResourceURLs", Type: field.ErrorTypeRequired},
		{Name: "non-resource URLs are absolute", Mutate: func(f fs) { rule(f).NonResourceRules[0].NonResourceURLs = []string{"healthz"} },
			Path: "spec.rules[0].nonResourceRules[0].nonResourceURLs[0]", Type: field.ErrorTypeInvalid},
		{Name: "a non-resource wildcard only ends a path", Mutate: func(f fs) { rule(f).NonResourceRules[0].NonResourceURLs = []string{"/api*"} },
			Path: "spec.rules[0].nonResourceRules[0].nonResourceURLs[0]", Type: field.ErrorTypeInvalid},
		{Name: "duplicate condition types are refused", Mutate: func(f fs) {
			f.Status.Conditions = []flowcontrolv1.FlowSchemaCondition{{Type: "Dangling"}, {Type: "Dangling"}}
		}, Path: "status.conditions[1].type", Type: field.ErrorTypeDuplicate},
	})
}

// TestMandatoryFlowSchemas: the bootstrap objects are valid as the
// apiserver writes them, and the mandatory ones keep their spec.
func TestMandatoryFlowSchemas(t *testing.T) {
	s := FlowSchemas().Strategy
	for _, want := range append(append([]*flowcontrolv1.FlowSchema{}, bootstrap.MandatoryFlowSchemas...), bootstrap.SuggestedFlowSchemas...) {
		f := want.DeepCopy()
		s.Default(f)
		if errs := s.Validate(f); len(errs) != 0 {
			t.Errorf("bootstrap %s: %v", f.Name, errs)
		}
	}
	exempt := bootstrap.MandatoryFlowSchemaExempt.DeepCopy()
	exempt.Spec.MatchingPrecedence = 2
	s.Default(exempt)
	kindstest.WantErr(t, s.Validate(exempt), "spec", field.ErrorTypeInvalid)
	// A suggested schema may be changed at will.
	global := bootstrap.SuggestedFlowSchemaGlobalDefault.DeepCopy()
	global.Spec.MatchingPrecedence = 9000
	kindstest.WantErr(t, s.Validate(global), "", "")
}

func TestFlowSchemaUpdateAndStatus(t *testing.T) {
	s := FlowSchemas().Strategy
	old := newFlowSchema()
	s.Default(old)
	f := old.DeepCopy()
	f.Status.Conditions = []flowcontrolv1.FlowSchemaCondition{{Type: "Dangling", Status: flowcontrolv1.ConditionFalse}}
	s.PrepareForCreate(f)
	if len(f.Status.Conditions) != 0 {
		t.Errorf("a new schema kept its status %v", f.Status)
	}
	f.Status.Conditions = []flowcontrolv1.FlowSchemaCondition{{Type: ""}}
	kindstest.WantErr(t, s.ValidateStatusUpdate(f, old), "status.conditions[0].type", field.ErrorTypeRequired)
	f.Status.Conditions = []flowcontrolv1.FlowSchemaCondition{{Type: "PatchStatusFailed", Status: flowcontrolv1.ConditionFalse, Reason: "e2e"}}
	kindstest.WantErr(t, s.ValidateStatusUpdate(f, old), "", "")
	kindstest.Update(t, s, newFlowSchema, "", []kindstest.Case[fs]{
		{Name: "matchingPrecedence may change", Mutate: func(f fs) { f.Spec.MatchingPrecedence = 9999 }},
		{Name: "an update is validated as a create", Mutate: func(f fs) { f.Spec.Rules[0].Subjects = nil },
			Path: "spec.rules[0].subjects", Type: field.ErrorTypeRequired},
	})
}

// newPriorityLevel is a valid queuing level.
func newPriorityLevel() pl {
	return &flowcontrolv1.PriorityLevelConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "tiny"},
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
			Type: flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
				NominalConcurrencyShares: ptr.To(int32(1)),
				LimitResponse: flowcontrolv1.LimitResponse{
					Type:    flowcontrolv1.LimitResponseTypeQueue,
					Queuing: &flowcontrolv1.QueuingConfiguration{Queues: 1, HandSize: 1, QueueLengthLimit: 1},
				},
			},
		},
	}
}

func TestPriorityLevelDefaults(t *testing.T) {
	tests := []struct {
		name  string
		spec  flowcontrolv1.PriorityLevelConfigurationSpec
		check func(t *testing.T, s flowcontrolv1.PriorityLevelConfigurationSpec)
	}{
		{"limited: 30 shares, nothing lent, 64 queues of 50, hands of 8", flowcontrolv1.PriorityLevelConfigurationSpec{
			Type: flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
				LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue, Queuing: &flowcontrolv1.QueuingConfiguration{}},
			},
		}, func(t *testing.T, s flowcontrolv1.PriorityLevelConfigurationSpec) {
			l, q := s.Limited, s.Limited.LimitResponse.Queuing
			if *l.NominalConcurrencyShares != 30 || *l.LendablePercent != 0 || l.BorrowingLimitPercent != nil ||
				q.Queues != 64 || q.HandSize != 8 || q.QueueLengthLimit != 50 {
				t.Errorf("defaults %+v %+v", l, q)
			}
		}},
		{"explicit zero shares stay zero in v1", flowcontrolv1.PriorityLevelConfigurationSpec{
			Type: flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{NominalConcurrencyShares: ptr.To(int32(0)),
				LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject}},
		}, func(t *testing.T, s flowcontrolv1.PriorityLevelConfigurationSpec) {
			if *s.Limited.NominalConcurrencyShares != 0 {
				t.Errorf("shares = %d", *s.Limited.NominalConcurrencyShares)
			}
		}},
		{"exempt: zero shares, nothing lent", flowcontrolv1.PriorityLevelConfigurationSpec{
			Type: flowcontrolv1.PriorityLevelEnablementExempt, Exempt: &flowcontrolv1.ExemptPriorityLevelConfiguration{},
		}, func(t *testing.T, s flowcontrolv1.PriorityLevelConfigurationSpec) {
			if *s.Exempt.NominalConcurrencyShares != 0 || *s.Exempt.LendablePercent != 0 {
				t.Errorf("exempt defaults %+v", s.Exempt)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &flowcontrolv1.PriorityLevelConfiguration{Spec: tt.spec}
			PriorityLevelConfigurations().Strategy.Default(p)
			tt.check(t, p.Spec)
		})
	}
}

func TestPriorityLevelValidate(t *testing.T) {
	limited := func(p pl) *flowcontrolv1.LimitedPriorityLevelConfiguration { return p.Spec.Limited }
	queuing := func(p pl) *flowcontrolv1.QueuingConfiguration { return p.Spec.Limited.LimitResponse.Queuing }
	kindstest.Create(t, PriorityLevelConfigurations().Strategy, newPriorityLevel, []kindstest.Case[pl]{
		{Name: "a queuing level is valid", Mutate: func(p pl) {}},
		{Name: "a rejecting level is valid", Mutate: func(p pl) {
			limited(p).LimitResponse = flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject}
		}},
		{Name: "type is required", Mutate: func(p pl) { p.Spec.Type = "" },
			Path: "spec.type", Type: field.ErrorTypeRequired},
		{Name: "type is Limited or Exempt", Mutate: func(p pl) { p.Spec.Type = "Unlimited" },
			Path: "spec.type", Type: field.ErrorTypeNotSupported},
		{Name: "only the level named exempt is Exempt", Mutate: func(p pl) {
			p.Spec = flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementExempt}
		}, Path: "spec.type", Type: field.ErrorTypeInvalid},
		{Name: "a Limited level has no exempt section", Mutate: func(p pl) { p.Spec.Exempt = &flowcontrolv1.ExemptPriorityLevelConfiguration{} },
			Path: "spec.exempt", Type: field.ErrorTypeForbidden},
		{Name: "a Limited level needs its limits", Mutate: func(p pl) { p.Spec.Limited = nil },
			Path: "spec.limited", Type: field.ErrorTypeRequired},
		{Name: "shares are not negative", Mutate: func(p pl) { limited(p).NominalConcurrencyShares = ptr.To(int32(-1)) },
			Path: "spec.limited.nominalConcurrencyShares", Type: field.ErrorTypeInvalid},
		{Name: "lendablePercent is at most 100", Mutate: func(p pl) { limited(p).LendablePercent = ptr.To(int32(101)) },
			Path: "spec.limited.lendablePercent", Type: field.ErrorTypeInvalid},
		{Name: "borrowingLimitPercent is not negative", Mutate: func(p pl) { limited(p).BorrowingLimitPercent = ptr.To(int32(-5)) },
			Path: "spec.limited.borrowingLimitPercent", Type: field.ErrorTypeInvalid},
		{Name: "limit response type is required", Mutate: func(p pl) { limited(p).LimitResponse = flowcontrolv1.LimitResponse{} },
			Path: "spec.limited.limitResponse.type", Type: field.ErrorTypeRequired},
		{Name: "limit response type is Queue or Reject", Mutate: func(p pl) { limited(p).LimitResponse.Type = "Drop" },
			Path: "spec.limited.limitResponse.type", Type: field.ErrorTypeNotSupported},
		{Name: "Queue needs its queuing", Mutate: func(p pl) { limited(p).LimitResponse.Queuing = nil },
			Path: "spec.limited.limitResponse.queuing", Type: field.ErrorTypeRequired},
		{Name: "Reject has no queuing", Mutate: func(p pl) { limited(p).LimitResponse.Type = flowcontrolv1.LimitResponseTypeReject },
			Path: "spec.limited.limitResponse.queuing", Type: field.ErrorTypeForbidden},
		{Name: "queue length limit is positive", Mutate: func(p pl) { queuing(p).QueueLengthLimit = -1 },
			Path: "spec.limited.limitResponse.queuing.queueLengthLimit", Type: field.ErrorTypeInvalid},
		{Name: "queues are at most 10^7", Mutate: func(p pl) { queuing(p).Queues = 10*1000*1000 + 1 },
			Path: "spec.limited.limitResponse.queuing.queues", Type: field.ErrorTypeInvalid},
		{Name: "hand size is at most the queues", Mutate: func(p pl) { queuing(p).HandSize = 2 },
			Path: "spec.limited.limitResponse.queuing.handSize", Type: field.ErrorTypeInvalid},
		{Name: "a deal fits in 60 bits of hash", Mutate: func(p pl) { queuing(p).Queues, queuing(p).HandSize = 512, 50 },
			Path: "spec.limited.limitResponse.queuing.handSize", Type: field.ErrorTypeInvalid},
		{Name: "the v1beta3 zero-shares annotation is refused", Mutate: func(p pl) {
			p.Annotations = map[string]string{flowcontrolv1beta3.PriorityLevelPreserveZeroConcurrencySharesKey: ""}
		}, Path: "metadata.annotations", Type: field.ErrorTypeForbidden},
	})
}

func TestMandatoryPriorityLevels(t *testing.T) {
	s := PriorityLevelConfigurations().Strategy
	for _, want := range append(append([]*flowcontrolv1.PriorityLevelConfiguration{}, bootstrap.MandatoryPriorityLevelConfigurations...),
		bootstrap.SuggestedPriorityLevelConfigurations...) {
		p := want.DeepCopy()
		s.Default(p)
		if errs := s.Validate(p); len(errs) != 0 {
			t.Errorf("bootstrap %s: %v", p.Name, errs)
		}
	}
	catchAll, exempt := bootstrap.MandatoryPriorityLevelConfigurationCatchAll, bootstrap.MandatoryPriorityLevelConfigurationExempt
	tests := []struct {
		name   string
		base   *flowcontrolv1.PriorityLevelConfiguration
		mutate func(p pl)
		path   string
		typ    field.ErrorType
	}{
		{"catch-all's shares are fixed", catchAll, func(p pl) { p.Spec.Limited.NominalConcurrencyShares = ptr.To(int32(50)) },
			"spec", field.ErrorTypeInvalid},
		{"exempt's shares may change", exempt, func(p pl) { p.Spec.Exempt.NominalConcurrencyShares = ptr.To(int32(10)) }, "", ""},
		{"exempt has nothing but its exempt section", exempt, func(p pl) {
			p.Spec.Limited = &flowcontrolv1.LimitedPriorityLevelConfiguration{LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject}}
		}, "spec.limited", field.ErrorTypeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.base.DeepCopy()
			s.Default(p)
			tt.mutate(p)
			kindstest.WantErr(t, s.Validate(p), tt.path, tt.typ)
		})
	}
}
