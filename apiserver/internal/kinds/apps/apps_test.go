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

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

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
	kindstest.Create(t, Deployments().Strategy, newDeployment, []kindstest.Case[*appsv1.Deployment]{
		{Name: "defaulted deployment is valid", Mutate: func(*appsv1.Deployment) {}},
		{Name: "selector is required", Mutate: func(d *appsv1.Deployment) { d.Spec.Selector = nil }, Path: "spec.selector", Type: field.ErrorTypeRequired},
		{Name: "empty selector is invalid", Mutate: func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, Path: "spec.selector", Type: field.ErrorTypeInvalid},
		{Name: "selector key must be a label key", Mutate: func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchLabels = map[string]string{"bad key": "x"}
		}, Path: "spec.selector.matchLabels", Type: field.ErrorTypeInvalid},
		{Name: "selector must match template labels", Mutate: func(d *appsv1.Deployment) {
			d.Spec.Template.Labels = map[string]string{"app": "other"}
		}, Path: "spec.template.metadata.labels", Type: field.ErrorTypeInvalid},
		{Name: "replicas may not be negative", Mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](-1) }, Path: "spec.replicas", Type: field.ErrorTypeInvalid},
		{Name: "maxSurge must be an int or a percentage", Mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromString("lots"))}
		}, Path: "spec.strategy.rollingUpdate.maxSurge", Type: field.ErrorTypeInvalid},
		{Name: "maxUnavailable may not be negative", Mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr.To(intstr.FromInt32(-1))}
		}, Path: "spec.strategy.rollingUpdate.maxUnavailable", Type: field.ErrorTypeInvalid},
		{Name: "maxUnavailable and maxSurge may not both be zero", Mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptr.To(intstr.FromString("0%")), MaxSurge: ptr.To(intstr.FromInt32(0))}
		}, Path: "spec.strategy.rollingUpdate.maxUnavailable", Type: field.ErrorTypeInvalid},
		{Name: "maxUnavailable may not exceed 100%", Mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr.To(intstr.FromString("101%"))}
		}, Path: "spec.strategy.rollingUpdate.maxUnavailable", Type: field.ErrorTypeInvalid},
		{Name: "Recreate may not have rollingUpdate", Mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{}}
		}, Path: "spec.strategy.rollingUpdate", Type: field.ErrorTypeForbidden},
		{Name: "unknown strategy type is not supported", Mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: "BlueGreen"}
		}, Path: "spec.strategy", Type: field.ErrorTypeNotSupported},
		{Name: "restartPolicy must be Always", Mutate: func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}, Path: "spec.template.spec.restartPolicy", Type: field.ErrorTypeNotSupported},
		{Name: "template may not set activeDeadlineSeconds", Mutate: func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](10)
		}, Path: "spec.template.spec.activeDeadlineSeconds", Type: field.ErrorTypeForbidden},
		{Name: "minReadySeconds may not be negative", Mutate: func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = -1 }, Path: "spec.minReadySeconds", Type: field.ErrorTypeInvalid},
		{Name: "revisionHistoryLimit may not be negative", Mutate: func(d *appsv1.Deployment) {
			d.Spec.RevisionHistoryLimit = ptr.To[int32](-1)
		}, Path: "spec.revisionHistoryLimit", Type: field.ErrorTypeInvalid},
		{Name: "progressDeadlineSeconds must exceed minReadySeconds", Mutate: func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 600
		}, Path: "spec.progressDeadlineSeconds", Type: field.ErrorTypeInvalid},
	})
}

func TestDeploymentUpdate(t *testing.T) {
	kindstest.Update(t, Deployments().Strategy, newDeployment, "field is immutable", []kindstest.Case[*appsv1.Deployment]{
		{Name: "scaling is allowed", Mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) }},
		{Name: "selector is immutable", Mutate: func(d *appsv1.Deployment) {
			d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "x"}}
			d.Spec.Template.Labels = map[string]string{"app": "web", "tier": "x"}
		}, Path: "spec.selector", Type: field.ErrorTypeInvalid},
	})
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
			kindstest.WantErr(t, Deployments().Strategy.ValidateStatusUpdate(d, old), tt.path, tt.typ)
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

	kindstest.Create(t, ReplicaSets().Strategy, newReplicaSet, []kindstest.Case[*appsv1.ReplicaSet]{
		{Name: "defaulted replicaset is valid", Mutate: func(*appsv1.ReplicaSet) {}},
		{Name: "replicas may not be negative", Mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptr.To[int32](-2) }, Path: "spec.replicas", Type: field.ErrorTypeInvalid},
		{Name: "selector is required", Mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = nil }, Path: "spec.selector", Type: field.ErrorTypeRequired},
		{Name: "selector must match template labels", Mutate: func(rs *appsv1.ReplicaSet) {
			rs.Spec.Selector.MatchLabels = map[string]string{"app": "db"}
		}, Path: "spec.template.metadata.labels", Type: field.ErrorTypeInvalid},
		{Name: "restartPolicy must be Always", Mutate: func(rs *appsv1.ReplicaSet) {
			rs.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
		}, Path: "spec.template.spec.restartPolicy", Type: field.ErrorTypeNotSupported},
	})

	t.Run("selector is immutable", func(t *testing.T) {
		s := ReplicaSets().Strategy
		old := newReplicaSet()
		s.Default(old)
		rs := old.DeepCopy()
		rs.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"web"}}}}
		kindstest.WantErr(t, s.ValidateUpdate(rs, old), "spec.selector", field.ErrorTypeInvalid)
	})
	t.Run("status fullyLabeledReplicas may not be negative", func(t *testing.T) {
		old := newReplicaSet()
		rs := old.DeepCopy()
		rs.Status.FullyLabeledReplicas = -1
		kindstest.WantErr(t, ReplicaSets().Strategy.ValidateStatusUpdate(rs, old), "status.fullyLabeledReplicas", field.ErrorTypeInvalid)
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
	kindstest.Create(t, DaemonSets().Strategy, newDaemonSet, []kindstest.Case[*appsv1.DaemonSet]{
		{Name: "defaulted daemonset is valid", Mutate: func(*appsv1.DaemonSet) {}},
		{Name: "missing selector matches no template", Mutate: func(ds *appsv1.DaemonSet) { ds.Spec.Selector = nil }, Path: "spec.template.metadata.labels", Type: field.ErrorTypeInvalid},
		{Name: "empty selector is invalid", Mutate: func(ds *appsv1.DaemonSet) { ds.Spec.Selector = &metav1.LabelSelector{} }, Path: "spec.selector", Type: field.ErrorTypeInvalid},
		{Name: "selector must match template labels", Mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Labels = nil
		}, Path: "spec.template.metadata.labels", Type: field.ErrorTypeInvalid},
		{Name: "restartPolicy must be Always", Mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}, Path: "spec.template.spec.restartPolicy", Type: field.ErrorTypeNotSupported},
		{Name: "maxSurge and maxUnavailable may not both be set", Mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: ptr.To(intstr.FromString("10%"))}
		}, Path: "spec.updateStrategy.rollingUpdate.maxSurge", Type: field.ErrorTypeInvalid},
		{Name: "maxSurge and maxUnavailable may not both be zero", Mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(0))}
		}, Path: "spec.updateStrategy.rollingUpdate.maxUnavailable", Type: field.ErrorTypeRequired},
		{Name: "unknown update strategy is not supported", Mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.Type = "Surge"
		}, Path: "spec.updateStrategy", Type: field.ErrorTypeNotSupported},
	})
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
		kindstest.WantErr(t, s.ValidateUpdate(ds, old), "spec.selector", field.ErrorTypeInvalid)
	})
	t.Run("status numberReady may not be negative", func(t *testing.T) {
		ds := old.DeepCopy()
		ds.Status.NumberReady = -1
		kindstest.WantErr(t, s.ValidateStatusUpdate(ds, old), "status.numberReady", field.ErrorTypeInvalid)
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
	kindstest.Create(t, StatefulSets().Strategy, newStatefulSet, []kindstest.Case[*appsv1.StatefulSet]{
		{Name: "defaulted statefulset without serviceName is valid", Mutate: func(*appsv1.StatefulSet) {}},
		{Name: "claim template mounts are valid", Mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		}},
		{Name: "unknown podManagementPolicy is invalid", Mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.PodManagementPolicy = "Random"
		}, Path: "spec.podManagementPolicy", Type: field.ErrorTypeInvalid},
		{Name: "OnDelete may not have rollingUpdate", Mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{
				Type: appsv1.OnDeleteStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{}}
		}, Path: "spec.updateStrategy.rollingUpdate", Type: field.ErrorTypeInvalid},
		{Name: "partition may not be negative", Mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](-1)}
		}, Path: "spec.updateStrategy.rollingUpdate.partition", Type: field.ErrorTypeInvalid},
		{Name: "maxUnavailable may not be zero", Mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{MaxUnavailable: ptr.To(intstr.FromInt32(0))}
		}, Path: "spec.updateStrategy.rollingUpdate.maxUnavailable", Type: field.ErrorTypeInvalid},
		{Name: "retention policy must be Retain or Delete", Mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: "Keep"}
		}, Path: "spec.persistentVolumeClaimRetentionPolicy.whenDeleted", Type: field.ErrorTypeNotSupported},
		{Name: "replicas may not be negative", Mutate: func(ss *appsv1.StatefulSet) { ss.Spec.Replicas = ptr.To[int32](-1) }, Path: "spec.replicas", Type: field.ErrorTypeInvalid},
		{Name: "ordinals start may not be negative", Mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: -1}
		}, Path: "spec.ordinals.start", Type: field.ErrorTypeInvalid},
		{Name: "selector is required", Mutate: func(ss *appsv1.StatefulSet) { ss.Spec.Selector = nil }, Path: "spec.selector", Type: field.ErrorTypeRequired},
		{Name: "selector must match template labels", Mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.Template.Labels = map[string]string{"app": "db"}
		}, Path: "spec.template.metadata.labels", Type: field.ErrorTypeInvalid},
		{Name: "restartPolicy must be Always", Mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
		}, Path: "spec.template.spec.restartPolicy", Type: field.ErrorTypeNotSupported},
	})
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
	kindstest.Update(t, StatefulSets().Strategy, newStatefulSet, "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden", []kindstest.Case[*appsv1.StatefulSet]{
		{Name: "replicas may change", Mutate: func(ss *appsv1.StatefulSet) { ss.Spec.Replicas = ptr.To[int32](3) }},
		{Name: "template may change", Mutate: func(ss *appsv1.StatefulSet) { ss.Spec.Template.Spec.Containers[0].Image = "pg:17" }},
		{Name: "update strategy may change", Mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		}},
		{Name: "retention policy may change", Mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
		}},
		{Name: "minReadySeconds may change", Mutate: func(ss *appsv1.StatefulSet) { ss.Spec.MinReadySeconds = 5 }},
		{Name: "revisionHistoryLimit may change", Mutate: func(ss *appsv1.StatefulSet) { ss.Spec.RevisionHistoryLimit = ptr.To[int32](2) }},
		{Name: "ordinals may change", Mutate: func(ss *appsv1.StatefulSet) { ss.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 1} }},
		{Name: "serviceName is forbidden to change", Mutate: func(ss *appsv1.StatefulSet) { ss.Spec.ServiceName = "db" }, Path: "spec", Type: field.ErrorTypeForbidden},
		{Name: "claim templates are forbidden to change", Mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates[0].Name = "other"
		}, Path: "spec", Type: field.ErrorTypeForbidden},
		{Name: "podManagementPolicy is forbidden to change", Mutate: func(ss *appsv1.StatefulSet) {
			ss.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
		}, Path: "spec", Type: field.ErrorTypeForbidden},
	})
}

func TestStatefulSetStatusUpdate(t *testing.T) {
	old := newStatefulSet()
	ss := old.DeepCopy()
	ss.Status = appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 2}
	kindstest.WantErr(t, StatefulSets().Strategy.ValidateStatusUpdate(ss, old), "status.readyReplicas", field.ErrorTypeInvalid)
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
