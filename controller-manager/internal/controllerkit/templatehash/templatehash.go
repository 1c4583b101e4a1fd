// Package templatehash names a revision of a pod template: the
// pod-template-hash of a Deployment's ReplicaSets and the
// controller-revision-hash of DaemonSet and StatefulSet pods. One hash
// for all three, Kubernetes' controller.ComputeHash.
package templatehash

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
)

// Hash is a stable hash of template's content and of its owner's
// collision count, which the owner raises when a hash it made turns out
// to be taken; safe as a label value and in a name.
func Hash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	b, _ := json.Marshal(template)
	h.Write(b)
	if collisionCount != nil {
		var buf [4]byte
		binary.LittleEndian.PutUint32(buf[:], uint32(*collisionCount))
		h.Write(buf[:])
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}
