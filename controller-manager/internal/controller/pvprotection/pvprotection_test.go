package pvprotection

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestInUse(t *testing.T) {
	for phase, want := range map[corev1.PersistentVolumePhase]bool{
		corev1.VolumePending:   false,
		corev1.VolumeAvailable: false,
		corev1.VolumeBound:     true,
		corev1.VolumeReleased:  false,
		corev1.VolumeFailed:    false,
	} {
		pv := &corev1.PersistentVolume{Status: corev1.PersistentVolumeStatus{Phase: phase}}
		if got := InUse(pv); got != want {
			t.Errorf("InUse(%s) = %v, want %v", phase, got, want)
		}
	}
}
