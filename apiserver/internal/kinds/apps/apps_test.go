package apps

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// wantErr checks errs against the one error a case expects first, or
// against none when field is "".
func wantErr(t *testing.T, errs field.ErrorList, path string, typ field.ErrorType) {
	t.Helper()
	if path == "" {
		if len(errs) != 0 {
			t.Fatalf("want no errors, got %v", errs)
		}
		return
	}
	if len(errs) == 0 {
		t.Fatalf("want %s at %s, got no errors", typ, path)
	}
	if errs[0].Field != path || errs[0].Type != typ {
		t.Fatalf("want %s at %s first, got %v", typ, path, errs)
	}
}

var webLabels = map[string]string{"app": "web"}

func template(restart corev1.RestartPolicy) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			// Set as the pod defaults would, so these tests do not
			// depend on the core package's defaulting.
			RestartPolicy: restart,
			Containers:    []corev1.Container{{Name: "web", Image: "nginx"}},
		},
	}
}

func newDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: webLabels},
			Template: template(corev1.RestartPolicyAlways),
		},
	}
}

func TestDeploymentDefaults(t *testing.T) {
	d := newDeployment()
	Deployments().Strategy.Default(d)
	s := d.Spec
	if *s.Replicas != 1 || *s.RevisionHistoryLimit != 10 || *s.ProgressDeadlineSeconds != 600 {
		t.Errorf("replicas, revisionHistoryLimit, progressDeadlineSeconds = %d, %d, %d; want 1, 10, 600",
			*s.Replicas, *s.RevisionHistoryLimit, *s.ProgressDeadlineSeconds)
	}
	if s.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("strategy type = %q, want RollingUpdate", s.Strategy.Type)
	}
	quarter := intstr.FromString("25%")
	if ru := s.Strategy.RollingUpdate; ru == nil || *ru.MaxSurge != quarter || *ru.MaxUnavailable != quarter {
		t.Errorf("rollingUpdate = %+v, want maxSurge and maxUnavailable 25%%", ru)
	}

	kept := newDeployment()
	kept.Spec.Replicas = ptr.To[int32](0)
	kept.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
	Deployments().Strategy.Default(kept)
	if *kept.Spec.Replicas != 0 {
		t.Errorf("replicas 0 was changed to %d", *kept.Spec.Replicas)
	}
	if kept.Spec.Strategy.RollingUpdate != nil {
		t.Errorf("Recreate strategy was given a rollingUpdate")
	}
}

func TestDeploymentValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		path   string
		typ    field.ErrorType
	}{
		{"defaulted deployment is valid", func(*appsv1.Deployment) {}, "", ""},
		{"selector is required", func(d *appsv1.Deployment) { d.Spec.Selector = nil }, "spec.selector", field.ErrorTypeRequired},
		{"empty selector is invalid", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, "spec.selector", field.ErrorTypeInvalid},
		{"selector key must be a label key", func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchLabels = map[string]string{"bad key": "x"}
		}, "spec.selector.matchLabels", field.ErrorTypeInvalid},
		{"selector must match template labels", func(d *appsv1.Deployment) {
			d.Spec.Template.Labels = map[string]string{"app": "other"}
		}, "spec.template.metadata.labels", field.ErrorTypeInvalid},
		{"replicas may not be negative", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](-1) }, "spec.replicas", field.ErrorTypeInvalid},
		{"maxSurge must be an int or a percentage", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromString("lots"))}
		}, "spec.strategy.rollingUpdate.maxSurge", field.ErrorTypeInvalid},
		{"maxUnavailable may not be negative", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr.To(intstr.FromInt32(-1))}
		}, "spec.strategy.rollingUpdate.maxUnavailable", field.ErrorTypeInvalid},
		{"maxUnavailable and maxSurge may not both be zero", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptr.To(intstr.FromString("0%")), MaxSurge: ptr.To(intstr.FromInt32(0))}
		}, "spec.strategy.rollingUpdate.maxUnavailable", field.ErrorTypeInvalid},
		{"maxUnavailable may not exceed 100%", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr.To(intstr.FromString("101%"))}
		}, "spec.strategy.rollingUpdate.maxUnavailable", field.ErrorTypeInvalid},
		{"Recreate may not have rollingUpdate", func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{}}
		}, "spec.strategy.rollingUpdate", field.ErrorTypeForbidden},
		{"unknown strategy type is not supported", func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: "BlueGreen"}
		}, "spec.strategy", field.ErrorTypeNotSupported},
		{"restartPolicy must be Always", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}, "spec.template.spec.restartPolicy", field.ErrorTypeNotSupported},
		{"template may not set activeDeadlineSeconds", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](10)
		}, "spec.template.spec.activeDeadlineSeconds", field.ErrorTypeForbidden},
		{"minReadySeconds may not be negative", func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = -1 }, "spec.minReadySeconds", field.ErrorTypeInvalid},
		{"revisionHistoryLimit may not be negative", func(d *appsv1.Deployment) {
			d.Spec.RevisionHistoryLimit = ptr.To[int32](-1)
		}, "spec.revisionHistoryLimit", field.ErrorTypeInvalid},
		{"progressDeadlineSeconds must exceed minReadySeconds", func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 600
		}, "spec.progressDeadlineSeconds", field.ErrorTypeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeployment()
			tt.mutate(d)
			s := Deployments().Strategy
			s.Default(d)
			wantErr(t, s.Validate(d), tt.path, tt.typ)
		})
	}
}

func TestDeploymentUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		path   string
		typ    field.ErrorType
	}{
		{"scaling is allowed", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) }, "", ""},
		{"selector is immutable", func(d *appsv1.Deployment) {
			d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "x"}}
			d.Spec.Template.Labels = map[string]string{"app": "web", "tier": "x"}
		}, "spec.selector", field.ErrorTypeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Deployments().Strategy
			old := newDeployment()
			s.Default(old)
			d := old.DeepCopy()
			tt.mutate(d)
			s.Default(d)
			s.PrepareForUpdate(d, old)
			errs := s.ValidateUpdate(d, old)
			wantErr(t, errs, tt.path, tt.typ)
			if tt.path != "" && errs[0].Detail != "field is immutable" {
				t.Errorf("detail = %q, want %q", errs[0].Detail, "field is immutable")
			}
		})
	}
}

func TestDeploymentAnnotationChangeBumpsGeneration(t *testing.T) {
	s := Deployments().Strategy
	old := newDeployment()
	same := old.DeepCopy()
	s.PrepareForUpdate(same, old)
	if same.Generation != 1 {
		t.Errorf("unchanged annotations: generation = %d, want 1", same.Generation)
	}
	d := old.DeepCopy()
	d.Annotations = map[string]string{"team": "a"}
	s.PrepareForUpdate(d, old)
	if d.Generation != 2 {
		t.Errorf("changed annotations: generation = %d, want 2", d.Generation)
	}
}

func TestDeploymentStatusUpdate(t *testing.T) {
	one := ptr.To[int32](1)
	tests := []struct {
		name   string
		status appsv1.DeploymentStatus
		path   string
		typ    field.ErrorType
	}{
		{"consistent counts are valid", appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, CollisionCount: one}, "", ""},
		{"replicas may not be negative", appsv1.DeploymentStatus{Replicas: -1, CollisionCount: one}, "status.replicas", field.ErrorTypeInvalid},
		{"ready may not exceed replicas", appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 2, CollisionCount: one}, "status.readyReplicas", field.ErrorTypeInvalid},
		{"available may not exceed ready", appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 1, AvailableReplicas: 2, CollisionCount: one}, "status.availableReplicas", field.ErrorTypeInvalid},
		{"collisionCount may not go down", appsv1.DeploymentStatus{CollisionCount: ptr.To[int32](0)}, "status.collisionCount", field.ErrorTypeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newDeployment()
			old.Status.CollisionCount = one
			d := old.DeepCopy()
			d.Status = tt.status
			wantErr(t, Deployments().Strategy.ValidateStatusUpdate(d, old), tt.path, tt.typ)
		})
	}
}

func TestDeploymentCreateResetsStatus(t *testing.T) {
	d := newDeployment()
	d.Status.Replicas = 9
	Deployments().Strategy.PrepareForCreate(d)
	if d.Status.Replicas != 0 {
		t.Errorf("status.replicas = %d after create, want 0", d.Status.Replicas)
	}
}

func newReplicaSet() *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: webLabels},
			Template: template(corev1.RestartPolicyAlways),
		},
	}
}

func TestReplicaSet(t *testing.T) {
	rs := newReplicaSet()
	ReplicaSets().Strategy.Default(rs)
	if rs.Spec.Replicas == nil || *rs.Spec.Replicas != 1 {
		t.Errorf("replicas = %v, want 1", rs.Spec.Replicas)
	}

	tests := []struct {
		name   string
		mutate func(*appsv1.ReplicaSet)
		path   string
		typ    field.ErrorType
	}{
		{"defaulted replicaset is valid", func(*appsv1.ReplicaSet) {}, "", ""},
		{"replicas may not be negative", func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptr.To[int32](-2) }, "spec.replicas", field.ErrorTypeInvalid},
		{"selector is required", func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = nil }, "spec.selector", field.ErrorTypeRequired},
		{"selector must match template labels", func(rs *appsv1.ReplicaSet) {
			rs.Spec.Selector.MatchLabels = map[string]string{"app": "db"}
		}, "spec.template.metadata.labels", field.ErrorTypeInvalid},
		{"restartPolicy must be Always", func(rs *appsv1.ReplicaSet) {
			rs.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
		}, "spec.template.spec.restartPolicy", field.ErrorTypeNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := newReplicaSet()
			tt.mutate(rs)
			s := ReplicaSets().Strategy
			s.Default(rs)
			wantErr(t, s.Validate(rs), tt.path, tt.typ)
		})
	}

	t.Run("selector is immutable", func(t *testing.T) {
		s := ReplicaSets().Strategy
		old := newReplicaSet()
		s.Default(old)
		rs := old.DeepCopy()
		rs.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"web"}}}}
		wantErr(t, s.ValidateUpdate(rs, old), "spec.selector", field.ErrorTypeInvalid)
	})
	t.Run("status fullyLabeledReplicas may not be negative", func(t *testing.T) {
		old := newReplicaSet()
		rs := old.DeepCopy()
		rs.Status.FullyLabeledReplicas = -1
		wantErr(t, ReplicaSets().Strategy.ValidateStatusUpdate(rs, old), "status.fullyLabeledReplicas", field.ErrorTypeInvalid)
	})
}

func newDaemonSet() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: webLabels},
			Template: template(corev1.RestartPolicyAlways),
		},
	}
}

func TestDaemonSetDefaults(t *testing.T) {
	ds := newDaemonSet()
	DaemonSets().Strategy.Default(ds)
	s := ds.Spec.UpdateStrategy
	if s.Type != appsv1.RollingUpdateDaemonSetStrategyType || s.RollingUpdate == nil {
		t.Fatalf("updateStrategy = %+v, want RollingUpdate with rollingUpdate", s)
	}
	if *s.RollingUpdate.MaxUnavailable != intstr.FromInt32(1) || *s.RollingUpdate.MaxSurge != intstr.FromInt32(0) {
		t.Errorf("rollingUpdate = %v/%v, want maxUnavailable 1, maxSurge 0", s.RollingUpdate.MaxUnavailable, s.RollingUpdate.MaxSurge)
	}
	if *ds.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("revisionHistoryLimit = %d, want 10", *ds.Spec.RevisionHistoryLimit)
	}
}

func TestDaemonSetValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1.DaemonSet)
		path   string
		typ    field.ErrorType
	}{
		{"defaulted daemonset is valid", func(*appsv1.DaemonSet) {}, "", ""},
		{"missing selector matches no template", func(ds *appsv1.DaemonSet) { ds.Spec.Selector = nil }, "spec.template.metadata.labels", field.ErrorTypeInvalid},
		{"empty selector is invalid", func(ds *appsv1.DaemonSet) { ds.Spec.Selector = &metav1.LabelSelector{} }, "spec.selector", field.ErrorTypeInvalid},
		{"selector must match template labels", func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Labels = nil
		}, "spec.template.metadata.labels", field.ErrorTypeInvalid},
		{"restartPolicy must be Always", func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}, "spec.template.spec.restartPolicy", field.ErrorTypeNotSupported},
		{"maxSurge and maxUnavailable may not both be set", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: ptr.To(intstr.FromString("10%"))}
		}, "spec.updateStrategy.rollingUpdate.maxSurge", field.ErrorTypeInvalid},
		{"maxSurge and maxUnavailable may not both be zero", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(0))}
		}, "spec.updateStrategy.rollingUpdate.maxUnavailable", field.ErrorTypeRequired},
		{"unknown update strategy is not supported", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.Type = "Surge"
		}, "spec.updateStrategy", field.ErrorTypeNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := newDaemonSet()
			tt.mutate(ds)
			s := DaemonSets().Strategy
			s.Default(ds)
			wantErr(t, s.Validate(ds), tt.path, tt.typ)
		})
	}
}

func TestDaemonSetUpdate(t *testing.T) {
	s := DaemonSets().Strategy
	old := newDaemonSet()
	s.Default(old)
	s.PrepareForCreate(old)
	if got := old.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "1" {
		t.Fatalf("template generation after create = %q, want 1", got)
	}

	t.Run("template change moves the template generation on", func(t *testing.T) {
		ds := old.DeepCopy()
		ds.Spec.Template.Spec.Containers[0].Image = "nginx:2"
		s.PrepareForUpdate(ds, old)
		if got := ds.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "2" {
			t.Errorf("template generation = %q, want 2", got)
		}
	})
	t.Run("client cannot move the template generation", func(t *testing.T) {
		ds := old.DeepCopy()
		ds.Annotations[appsv1.DeprecatedTemplateGeneration] = "7"
		s.PrepareForUpdate(ds, old)
		if got := ds.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "1" {
			t.Errorf("template generation = %q, want 1", got)
		}
	})
	t.Run("selector is immutable", func(t *testing.T) {
		ds := old.DeepCopy()
		ds.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "v": "2"}}
		ds.Spec.Template.Labels = map[string]string{"app": "web", "v": "2"}
		wantErr(t, s.ValidateUpdate(ds, old), "spec.selector", field.ErrorTypeInvalid)
	})
	t.Run("status numberReady may not be negative", func(t *testing.T) {
		ds := old.DeepCopy()
		ds.Status.NumberReady = -1
		wantErr(t, s.ValidateStatusUpdate(ds, old), "status.numberReady", field.ErrorTypeInvalid)
	})
}

func newStatefulSet() *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: webLabels},
			Template: template(corev1.RestartPolicyAlways),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

func TestStatefulSetDefaults(t *testing.T) {
	ss := newStatefulSet()
	StatefulSets().Strategy.Default(ss)
	s := ss.Spec
	if *s.Replicas != 1 || *s.RevisionHistoryLimit != 10 {
		t.Errorf("replicas, revisionHistoryLimit = %d, %d; want 1, 10", *s.Replicas, *s.RevisionHistoryLimit)
	}
	if s.PodManagementPolicy != appsv1.OrderedReadyPodManagement {
		t.Errorf("podManagementPolicy = %q, want OrderedReady", s.PodManagementPolicy)
	}
	if s.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType ||
		s.UpdateStrategy.RollingUpdate == nil || *s.UpdateStrategy.RollingUpdate.Partition != 0 {
		t.Errorf("updateStrategy = %+v, want RollingUpdate with partition 0", s.UpdateStrategy)
	}
	retain := appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if p := s.PersistentVolumeClaimRetentionPolicy; p == nil || p.WhenDeleted != retain || p.WhenScaled != retain {
		t.Errorf("persistentVolumeClaimRetentionPolicy = %+v, want Retain/Retain", p)
	}
	c := s.VolumeClaimTemplates[0]
	if c.Spec.VolumeMode == nil || *c.Spec.VolumeMode != corev1.PersistentVolumeFilesystem || c.Status.Phase != corev1.ClaimPending {
		t.Errorf("claim template volumeMode %v phase %q, want Filesystem and Pending", c.Spec.VolumeMode, c.Status.Phase)
	}
	if s.ServiceName != "" {
		t.Errorf("serviceName = %q, want it left empty", s.ServiceName)
	}
}

func TestStatefulSetValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1.StatefulSet)
		path   string
		typ    field.ErrorType
	}{
		{"defaulted statefulset without serviceName is valid", func(*appsv1.StatefulSet) {}, "", ""},
		{"claim template mounts are valid", func(ss *appsv1.StatefulSet) {
			ss.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		}, "", ""},
		{"unknown podManagementPolicy is invalid", func(ss *appsv1.StatefulSet) {
			ss.Spec.PodManagementPolicy = "Random"
		}, "spec.podManagementPolicy", field.ErrorTypeInvalid},
		{"OnDelete may not have rollingUpdate", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{
				Type: appsv1.OnDeleteStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{}}
		}, "spec.updateStrategy.rollingUpdate", field.ErrorTypeInvalid},
		{"partition may not be negative", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](-1)}
		}, "spec.updateStrategy.rollingUpdate.partition", field.ErrorTypeInvalid},
		{"maxUnavailable may not be zero", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{MaxUnavailable: ptr.To(intstr.FromInt32(0))}
		}, "spec.updateStrategy.rollingUpdate.maxUnavailable", field.ErrorTypeInvalid},
		{"retention policy must be Retain or Delete", func(ss *appsv1.StatefulSet) {
			ss.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: "Keep"}
		}, "spec.persistentVolumeClaimRetentionPolicy.whenDeleted", field.ErrorTypeNotSupported},
		{"replicas may not be negative", func(ss *appsv1.StatefulSet) { ss.Spec.Replicas = ptr.To[int32](-1) }, "spec.replicas", field.ErrorTypeInvalid},
		{"ordinals start may not be negative", func(ss *appsv1.StatefulSet) {
			ss.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: -1}
		}, "spec.ordinals.start", field.ErrorTypeInvalid},
		{"selector is required", func(ss *appsv1.StatefulSet) { ss.Spec.Selector = nil }, "spec.selector", field.ErrorTypeRequired},
		{"selector must match template labels", func(ss *appsv1.StatefulSet) {
			ss.Spec.Template.Labels = map[string]string{"app": "db"}
		}, "spec.template.metadata.labels", field.ErrorTypeInvalid},
		{"restartPolicy must be Always", func(ss *appsv1.StatefulSet) {
			ss.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
		}, "spec.template.spec.restartPolicy", field.ErrorTypeNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss := newStatefulSet()
			tt.mutate(ss)
			s := StatefulSets().Strategy
			s.Default(ss)
			wantErr(t, s.Validate(ss), tt.path, tt.typ)
		})
	}
}

func TestStatefulSetClaimVolumesAddedForValidation(t *testing.T) {
	ss := newStatefulSet()
	ss.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "config"}}
	got := withClaimVolumes(&ss.Spec)
	if len(got.Spec.Volumes) != 2 || got.Spec.Volumes[1].Name != "data" || got.Spec.Volumes[1].PersistentVolumeClaim == nil {
		t.Errorf("volumes = %+v, want config then the data claim", got.Spec.Volumes)
	}
	if len(ss.Spec.Template.Spec.Volumes) != 1 {
		t.Errorf("the StatefulSet's own template was changed")
	}
}

func TestStatefulSetUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1.StatefulSet)
		path   string
		typ    field.ErrorType
	}{
		{"replicas may change", func(ss *appsv1.StatefulSet) { ss.Spec.Replicas = ptr.To[int32](3) }, "", ""},
		{"template may change", func(ss *appsv1.StatefulSet) { ss.Spec.Template.Spec.Containers[0].Image = "pg:17" }, "", ""},
		{"update strategy may change", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		}, "", ""},
		{"retention policy may change", func(ss *appsv1.StatefulSet) {
			ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
		}, "", ""},
		{"minReadySeconds may change", func(ss *appsv1.StatefulSet) { ss.Spec.MinReadySeconds = 5 }, "", ""},
		{"revisionHistoryLimit may change", func(ss *appsv1.StatefulSet) { ss.Spec.RevisionHistoryLimit = ptr.To[int32](2) }, "", ""},
		{"ordinals may change", func(ss *appsv1.StatefulSet) { ss.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 1} }, "", ""},
		{"serviceName is forbidden to change", func(ss *appsv1.StatefulSet) { ss.Spec.ServiceName = "db" }, "spec", field.ErrorTypeForbidden},
		{"claim templates are forbidden to change", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates[0].Name = "other"
		}, "spec", field.ErrorTypeForbidden},
		{"podManagementPolicy is forbidden to change", func(ss *appsv1.StatefulSet) {
			ss.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
		}, "spec", field.ErrorTypeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := StatefulSets().Strategy
			old := newStatefulSet()
			s.Default(old)
			ss := old.DeepCopy()
			tt.mutate(ss)
			s.Default(ss)
			s.PrepareForUpdate(ss, old)
			errs := s.ValidateUpdate(ss, old)
			wantErr(t, errs, tt.path, tt.typ)
			const msg = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
			if tt.path != "" && errs[0].Detail != msg {
				t.Errorf("detail = %q, want Kubernetes' message", errs[0].Detail)
			}
		})
	}
}

func TestStatefulSetStatusUpdate(t *testing.T) {
	old := newStatefulSet()
	ss := old.DeepCopy()
	ss.Status = appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 2}
	wantErr(t, StatefulSets().Strategy.ValidateStatusUpdate(ss, old), "status.readyReplicas", field.ErrorTypeInvalid)
}

func TestStatefulSetNameMustBeDNSLabel(t *testing.T) {
	v := StatefulSets().NameValidator
	if v == nil || len(v("db.primary", false)) == 0 {
		t.Errorf("a dotted name was accepted; pod hostnames need a DNS label")
	}
	if len(v("db-0", false)) != 0 {
		t.Errorf("a DNS label was refused")
	}
}
