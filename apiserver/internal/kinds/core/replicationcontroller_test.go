package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

func newReplicationController() *corev1.ReplicationController {
	return &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ReplicationControllerSpec{
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
			},
		},
	}
}

func TestReplicationControllerDefaults(t *testing.T) {
	s := ReplicationControllers().Strategy
	rc := newReplicationController()
	s.Default(rc)
	eq(t, *rc.Spec.Replicas, int32(1))
	eq(t, rc.Spec.Selector, map[string]string{"app": "web"})
	eq(t, rc.Labels, map[string]string{"app": "web"})
	eq(t, rc.Spec.Template.Spec.RestartPolicy, corev1.RestartPolicyAlways)
	eq(t, rc.Spec.Template.Spec.DNSPolicy, corev1.DNSClusterFirst)
	// The defaults are copies: changing the selector leaves the template.
	rc.Spec.Selector["app"] = "db"
	eq(t, rc.Spec.Template.Labels["app"], "web")

	kept := newReplicationController()
	kept.Labels = map[string]string{"tier": "front"}
	kept.Spec.Selector = map[string]string{"app": "web"}
	kept.Spec.Template.Labels["version"] = "2"
	kept.Spec.Replicas = ptr.To[int32](0)
	s.Default(kept)
	eq(t, *kept.Spec.Replicas, int32(0))
	eq(t, kept.Spec.Selector, map[string]string{"app": "web"})
	eq(t, kept.Labels, map[string]string{"tier": "front"})

	noTemplate := &corev1.ReplicationController{}
	s.Default(noTemplate)
	if noTemplate.Spec.Selector != nil || noTemplate.Labels != nil || *noTemplate.Spec.Replicas != 1 {
		t.Errorf("without a template: selector %v, labels %v, replicas %d", noTemplate.Spec.Selector, noTemplate.Labels, *noTemplate.Spec.Replicas)
	}
}

func TestValidateReplicationController(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.ReplicationController)
		want   []string
	}{
		{"defaulted controller is valid", func(*corev1.ReplicationController) {}, nil},
		{"selector must match template labels", func(rc *corev1.ReplicationController) {
			rc.Spec.Selector = map[string]string{"app": "db"}
		}, []string{"spec.template.metadata.labels: Invalid value"}},
		{"selector may select a subset of the template labels", func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Labels["version"] = "2"
		}, nil},
		{"selector is required when the template has no labels", func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Labels = nil
		}, []string{"spec.selector: Required value"}},
		{"selector keys must be label keys", func(rc *corev1.ReplicationController) {
			rc.Spec.Selector = map[string]string{"bad key": "web"}
			rc.Spec.Template.Labels = map[string]string{"bad key": "web"}
		}, []string{"spec.selector: Invalid value", "spec.template.metadata.labels: Invalid value"}},
		{"replicas may not be negative", func(rc *corev1.ReplicationController) {
			rc.Spec.Replicas = ptr.To[int32](-1)
		}, []string{"spec.replicas: Invalid value"}},
		{"minReadySeconds may not be negative", func(rc *corev1.ReplicationController) {
			rc.Spec.MinReadySeconds = -1
		}, []string{"spec.minReadySeconds: Invalid value"}},
		{"template is required", func(rc *corev1.ReplicationController) {
			rc.Spec.Template = nil
			rc.Spec.Selector = map[string]string{"app": "web"}
		}, []string{"spec.template: Required value"}},
		{"template pod spec is validated", func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Spec.Containers[0].Image = ""
		}, []string{"spec.template.spec.containers[0].image: Required value"}},
		{"restartPolicy must be Always", func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}, []string{"spec.template.spec.restartPolicy: Unsupported value"}},
		{"template may not set activeDeadlineSeconds", func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](10)
		}, []string{"spec.template.spec.activeDeadlineSeconds: Forbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReplicationController()
			tt.mutate(rc)
			s := ReplicationControllers().Strategy
			s.Default(rc)
			checkErrs(t, s.Validate(rc), tt.want...)
		})
	}
}

func TestValidateReplicationControllerUpdate(t *testing.T) {
	s := ReplicationControllers().Strategy
	old := newReplicationController()
	s.Default(old)

	t.Run("selector may change", func(t *testing.T) {
		rc := old.DeepCopy()
		rc.Spec.Template.Labels["version"] = "2"
		rc.Spec.Selector = map[string]string{"app": "web", "version": "2"}
		checkErrs(t, s.ValidateUpdate(rc, old))
	})
	t.Run("an update is validated as a create", func(t *testing.T) {
		rc := old.DeepCopy()
		rc.Spec.Replicas = ptr.To[int32](-3)
		checkErrs(t, s.ValidateUpdate(rc, old), "spec.replicas: Invalid value")
	})
}

func TestValidateReplicationControllerStatus(t *testing.T) {
	tests := []struct {
		name   string
		status corev1.ReplicationControllerStatus
		want   []string
	}{
		{"counts within replicas are valid", corev1.ReplicationControllerStatus{Replicas: 3, FullyLabeledReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 1, ObservedGeneration: 2}, nil},
		{"counts may not be negative", corev1.ReplicationControllerStatus{FullyLabeledReplicas: -1, ObservedGeneration: -1},
			[]string{"status.fullyLabeledReplicas: Invalid value", "status.observedGeneration: Invalid value"}},
		{"ready may not exceed replicas", corev1.ReplicationControllerStatus{Replicas: 1, ReadyReplicas: 2},
			[]string{"status.readyReplicas: Invalid value"}},
		{"available may not exceed ready", corev1.ReplicationControllerStatus{Replicas: 2, ReadyReplicas: 1, AvailableReplicas: 2},
			[]string{"status.availableReplicas: Invalid value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReplicationController()
			rc.Status = tt.status
			checkErrs(t, ReplicationControllers().Strategy.ValidateStatusUpdate(rc, newReplicationController()), tt.want...)
		})
	}
}

func TestReplicationControllerScaleAndFields(t *testing.T) {
	d := ReplicationControllers()
	rc := newReplicationController()
	d.Strategy.Default(rc)
	rc.Spec.Selector = map[string]string{"app": "web", "tier": "front"}
	rc.Status.Replicas = 2
	spec, status, sel := d.Scale.Get(rc)
	eq(t, []int32{spec, status}, []int32{1, 2})
	if want := labels.SelectorFromSet(rc.Spec.Selector).String(); sel != want {
		t.Errorf("scale selector %q, want %q", sel, want)
	}
	d.Scale.Set(rc, 5)
	eq(t, *rc.Spec.Replicas, int32(5))
	eq(t, d.Fields(rc).Get("status.replicas"), "2")
	if !d.SupportsFieldLabel("status.replicas") || d.SupportsFieldLabel("spec.replicas") {
		t.Error("status.replicas, and only it, is a field label beyond metadata")
	}
}
