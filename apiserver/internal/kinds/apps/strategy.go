package apps

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/resource"
)

func itoa(n int32) string { return strconv.FormatInt(int64(n), 10) }

type deploymentStrategy struct{ resource.DefaultStrategy }

func (deploymentStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*appsv1.Deployment).Status = appsv1.DeploymentStatus{}
}

type replicaSetStrategy struct{ resource.DefaultStrategy }

func (replicaSetStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*appsv1.ReplicaSet).Status = appsv1.ReplicaSetStatus{}
}

type daemonSetStrategy struct{ resource.DefaultStrategy }

func (daemonSetStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*appsv1.DaemonSet).Status = appsv1.DaemonSetStatus{}
}

type statefulSetStrategy struct{ resource.DefaultStrategy }

func (statefulSetStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*appsv1.StatefulSet).Status = appsv1.StatefulSetStatus{}
}
