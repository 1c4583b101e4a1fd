package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/kubelet/internal/localregistry"
)

func TestImagePullWithCredentials(t *testing.T) {
	n := startNode(t)
	private, err := localregistry.Start(localregistry.Options{Address: "127.0.0.1:0", Username: "alice", Password: "wonderland"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = private.Close() })
	img, err := localregistry.BusyboxImage("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := private.Push(context.Background(), "team/tool:v1", img); err != nil {
		t.Fatal(err)
	}
	ref := private.Addr() + "/team/tool:v1"

	// Without credentials: ErrImagePull, then ImagePullBackOff.
	noAuth := n.pod("no-auth", sh("c", "sleep 3600"))
	noAuth.Spec.Containers[0].Image = ref
	n.create(noAuth)
	n.waitPod("no-auth", 30*time.Second, "ErrImagePull", func(p *v1.Pod) bool {
		r := waitingReason(p)
		return r == "ErrImagePull" || r == "ImagePullBackOff"
	})
	eventually(t, 10*time.Second, "a Failed event naming the refusal", func() (bool, error) {
		for _, e := range n.events("no-auth") {
			if e.Reason == "Failed" && strings.Contains(e.Message, "UNAUTHORIZED") {
				return true, nil
			}
		}
		return false, nil
	})

	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{
		private.Addr(): map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("alice:wonderland"))},
	}})
	if _, err := n.client.CoreV1().Secrets(n.ns).Create(context.Background(), &v1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred"}, Type: v1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{v1.DockerConfigJsonKey: cfg},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	withAuth := n.pod("with-auth", sh("c", "echo pulled; exec sleep 3600"))
	withAuth.Spec.Containers[0].Image = ref
	withAuth.Spec.ImagePullSecrets = []v1.LocalObjectReference{{Name: "regcred"}}
	n.create(withAuth)
	n.waitRunning("with-auth")
	n.waitLog("with-auth", "c", "pulled")
}

func TestImagePullFailureBacksOff(t *testing.T) {
	n := startNode(t)
	p := n.pod("missing", sh("c", "true"))
	p.Spec.Containers[0].Image = n.registry.Addr() + "/does-not-exist:1.0"
	n.create(p)
	n.waitPod("missing", 30*time.Second, "ErrImagePull", func(p *v1.Pod) bool { return waitingReason(p) == "ErrImagePull" })
	got := n.waitPod("missing", 30*time.Second, "ImagePullBackOff", func(p *v1.Pod) bool { return waitingReason(p) == "ImagePullBackOff" })
	if !strings.Contains(got.Status.ContainerStatuses[0].State.Waiting.Message, "Back-off pulling image") {
		t.Errorf("waiting message %q", got.Status.ContainerStatuses[0].State.Waiting.Message)
	}
	eventually(t, 10*time.Second, "Pulling, Failed and BackOff events", func() (bool, error) {
		evs := n.events("missing")
		return hasEvent(evs, "Pulling") && hasEvent(evs, "Failed") && hasEvent(evs, "BackOff"), nil
	})

	// imagePullPolicy Never with the image absent.
	never := n.pod("never-pull", sh("c", "true"))
	never.Spec.Containers[0].Image = n.registry.Addr() + "/absent:2"
	never.Spec.Containers[0].ImagePullPolicy = v1.PullNever
	n.create(never)
	n.waitPod("never-pull", 30*time.Second, "ErrImageNeverPull", func(p *v1.Pod) bool { return waitingReason(p) == "ErrImageNeverPull" })
}

func waitingReason(p *v1.Pod) string {
	if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
		return ""
	}
	return p.Status.ContainerStatuses[0].State.Waiting.Reason
}
