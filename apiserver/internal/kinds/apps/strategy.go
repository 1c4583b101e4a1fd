package apps

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
)

func itoa(n int32) string { return strconv.FormatInt(int64(n), 10) }

type deploymentStrategy struct{ apiresource.DefaultStrategy }

func (deploymentStrategy) Default(obj runtime.Object) { defaultDeployment(obj.(*appsv1.Deployment)) }

func (deploymentStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*appsv1.Deployment).Status = appsv1.DeploymentStatus{}
}

// PrepareForUpdate bumps the generation on annotation changes too, as
// Kubernetes does: the controller copies a Deployment's annotations to its
// ReplicaSets, so they are part of what it must roll out. Spec changes are
// bumped by the generic store.
func (deploymentStrategy) PrepareForUpdate(obj, old runtime.Object) {
	d, was := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
	if !apiequality.Semantic.DeepEqual(d.Annotations, was.Annotations) {
		d.Generation = was.Generation + 1
	}
}

func (deploymentStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateDeploymentSpec(&obj.(*appsv1.Deployment).Spec)
}

func (deploymentStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	d, was := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
	errs := validateDeploymentSpec(&d.Spec)
	return append(errs, immutable(d.Spec.Selector, was.Spec.Selector, specPath.Child("selector"))...)
}

func (deploymentStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	d, was := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
	errs := validateDeploymentStatus(&d.Status)
	return append(errs, collisionCountDecremented(d.Status.CollisionCount, was.Status.CollisionCount)...)
}

type replicaSetStrategy struct{ apiresource.DefaultStrategy }

func (replicaSetStrategy) Default(obj runtime.Object) { defaultReplicaSet(obj.(*appsv1.ReplicaSet)) }

func (replicaSetStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*appsv1.ReplicaSet).Status = appsv1.ReplicaSetStatus{}
}

func (replicaSetStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateReplicaSetSpec(&obj.(*appsv1.ReplicaSet).Spec)
}

func (replicaSetStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	rs, was := obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet)
	errs := validateReplicaSetSpec(&rs.Spec)
	return append(errs, immutable(rs.Spec.Selector, was.Spec.Selector, specPath.Child("selector"))...)
}

func (replicaSetStrategy) ValidateStatusUpdate(obj, _ runtime.Object) field.ErrorList {
	return validateReplicaSetStatus(&obj.(*appsv1.ReplicaSet).Status)
}

type daemonSetStrategy struct{ apiresource.DefaultStrategy }

func (daemonSetStrategy) Default(obj runtime.Object) { defaultDaemonSet(obj.(*appsv1.DaemonSet)) }

// PrepareForCreate starts the template generation at 1. Kubernetes keeps
// it in this annotation in apps/v1, and older tools still read it.
func (daemonSetStrategy) PrepareForCreate(obj runtime.Object) {
	ds := obj.(*appsv1.DaemonSet)
	ds.Status = appsv1.DaemonSetStatus{}
	setTemplateGeneration(ds, 1)
}

// PrepareForUpdate moves the template generation on when the template
// changes, and otherwise keeps the server's value whatever the client sent.
func (daemonSetStrategy) PrepareForUpdate(obj, old runtime.Object) {
	ds, was := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
	gen := templateGeneration(was)
	if !apiequality.Semantic.DeepEqual(ds.Spec.Template, was.Spec.Template) {
		gen++
	}
	setTemplateGeneration(ds, gen)
}

func templateGeneration(ds *appsv1.DaemonSet) int64 {
	n, err := strconv.ParseInt(ds.Annotations[appsv1.DeprecatedTemplateGeneration], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func setTemplateGeneration(ds *appsv1.DaemonSet, gen int64) {
	if ds.Annotations == nil {
		ds.Annotations = map[string]string{}
	}
	ds.Annotations[appsv1.DeprecatedTemplateGeneration] = strconv.FormatInt(gen, 10)
}

func (daemonSetStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateDaemonSetSpec(&obj.(*appsv1.DaemonSet).Spec)
}

func (daemonSetStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	ds, was := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
	errs := validateDaemonSetSpec(&ds.Spec)
	return append(errs, immutable(ds.Spec.Selector, was.Spec.Selector, specPath.Child("selector"))...)
}

func (daemonSetStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	ds, was := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
	errs := validateDaemonSetStatus(&ds.Status)
	return append(errs, collisionCountDecremented(ds.Status.CollisionCount, was.Status.CollisionCount)...)
}

type statefulSetStrategy struct{ apiresource.DefaultStrategy }

func (statefulSetStrategy) Default(obj runtime.Object) { defaultStatefulSet(obj.(*appsv1.StatefulSet)) }

func (statefulSetStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*appsv1.StatefulSet).Status = appsv1.StatefulSetStatus{}
}

func (statefulSetStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateStatefulSetSpec(&obj.(*appsv1.StatefulSet).Spec)
}

func (statefulSetStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	ss, was := obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet)
	errs := validateStatefulSetSpec(&ss.Spec)
	return append(errs, validateStatefulSetSpecUpdate(&ss.Spec, &was.Spec)...)
}

func (statefulSetStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	ss, was := obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet)
	errs := validateStatefulSetStatus(&ss.Status)
	return append(errs, collisionCountDecremented(ss.Status.CollisionCount, was.Status.CollisionCount)...)
}
