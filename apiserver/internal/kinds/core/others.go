package core

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/resource"
)

type nodeStrategy struct{ resource.DefaultStrategy }

type serviceStrategy struct{ resource.DefaultStrategy }

func (serviceStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*corev1.Service).Status = corev1.ServiceStatus{}
}

type endpointsStrategy struct{ resource.DefaultStrategy }

func (endpointsStrategy) AllowCreateOnUpdate() bool { return true }

type configMapStrategy struct{ resource.DefaultStrategy }

type secretStrategy struct{ resource.DefaultStrategy }

type eventStrategy struct{ resource.DefaultStrategy }

func (eventStrategy) AllowCreateOnUpdate() bool { return true }

type serviceAccountStrategy struct{ resource.DefaultStrategy }

type persistentVolumeStrategy struct{ resource.DefaultStrategy }

func (persistentVolumeStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*corev1.PersistentVolume).Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending}
}

type persistentVolumeClaimStrategy struct{ resource.DefaultStrategy }

func (persistentVolumeClaimStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*corev1.PersistentVolumeClaim).Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
}
