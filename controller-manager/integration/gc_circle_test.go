package integration

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller/garbagecollector"
)

// TestGarbageCollectorBreaksDependencyCircle is the conformance suite's
// "should not be blocked by dependency circle": three objects each owning
// the next with blockOwnerDeletion, one deleted in the foreground; all
// three must go.
func TestGarbageCollectorBreaksDependencyCircle(t *testing.T) {
	e := start(t, withControllers(garbagecollector.Name))
	ctx := e.ctx()
	ns := e.namespace("gc-circle")
	cms := e.client.CoreV1().ConfigMaps(ns)
	c1, c2, c3 := e.configMap(ns, "c1", nil), e.configMap(ns, "c2", nil), e.configMap(ns, "c3", nil)
	own := func(name, owner string, uid types.UID) {
		t.Helper()
		patch := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":%q,"uid":%q,"controller":true,"blockOwnerDeletion":true}]}}`, owner, uid)
		if _, err := cms.Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	own("c1", "c3", c3.UID)
	own("c2", "c1", c1.UID)
	own("c3", "c2", c2.UID)

	err := cms.Delete(ctx, "c1", metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationForeground),
		Preconditions:     metav1.NewUIDPreconditions(string(c1.UID)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"c1", "c2", "c3"} {
		eventually(t, 60*time.Second, name+" gone", e.gone(ns, name))
	}
}
