package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestRuntimeClassHandlers runs a pod whose RuntimeClass names the runc
// handler, and keeps one whose class names a handler this node does not
// have Pending, with upstream's FailedCreatePodSandBox event.
func TestRuntimeClassHandlers(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	for name, handler := range map[string]string{"plain": "runc", "kata": "kata"} {
		rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: name + "-" + n.ns + "-" + n.name}, Handler: handler}
		if _, err := n.client.NodeV1().RuntimeClasses().Create(ctx, rc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = n.client.NodeV1().RuntimeClasses().Delete(context.Background(), rc.Name, metav1.DeleteOptions{})
		})
	}
	plain := n.pod("plain", sh("c", "exec sleep 3600"))
	plain.Spec.RuntimeClassName = ptr.To("plain-" + n.ns + "-" + n.name)
	n.create(plain)
	kata := n.pod("kata", sh("c", "exec sleep 3600"))
	kata.Spec.RuntimeClassName = ptr.To("kata-" + n.ns + "-" + n.name)
	n.create(kata)

	n.waitRunning("plain")
	eventually(t, 60*time.Second, "FailedCreatePodSandBox for the unknown handler", func() (bool, error) {
		for _, e := range n.events("kata") {
			if e.Reason == "FailedCreatePodSandBox" && e.Type == v1.EventTypeWarning &&
				strings.Contains(e.Message, `Failed to create pod sandbox: no runtime for "kata" is configured`) {
				return true, nil
			}
		}
		return false, nil
	})
	p := n.get("kata")
	if p.Status.Phase != v1.PodPending || len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Waiting == nil ||
		p.Status.ContainerStatuses[0].State.Waiting.Reason != "ContainerCreating" {
		t.Errorf("kata: %s %+v", p.Status.Phase, p.Status.ContainerStatuses)
	}
}
