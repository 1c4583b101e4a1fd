package integration

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"coracle.dev/kubelet/internal/localregistry"
)

// pushGRPCHealthImage builds testdata/grpchealth as a static binary and
// pushes it as an image to the node's registry.
func (n *node) pushGRPCHealthImage() string {
	n.t.Helper()
	bin := filepath.Join(n.t.TempDir(), "grpchealth")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/grpchealth")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("build grpchealth: %v\n%s", err, out)
	}
	img, err := localregistry.BinaryImage(bin, "grpchealth", nil)
	if err != nil {
		n.t.Fatal(err)
	}
	if err := n.registry.Push(context.Background(), "grpchealth:latest", img); err != nil {
		n.t.Fatal(err)
	}
	return n.registry.Addr() + "/grpchealth:latest"
}

// gRPC probes ask the container's grpc.health.v1.Health service at the
// pod's IP: SERVING is Ready, a named service NOT_SERVING is not, and a
// liveness probe that stops being SERVING restarts the container with
// Kubernetes' message in the Unhealthy event.
func TestGRPCProbes(t *testing.T) {
	n := startNode(t)
	image := n.pushGRPCHealthImage()
	grpcProbe := func(service *string) *v1.Probe {
		return &v1.Probe{ProbeHandler: v1.ProbeHandler{GRPC: &v1.GRPCAction{Port: 5000, Service: service}}, PeriodSeconds: 1, FailureThreshold: 2}
	}

	ready := v1.Container{Name: "c", Image: image, ReadinessProbe: grpcProbe(nil)}
	n.create(n.pod("grpc-ready", ready))
	n.waitRunning("grpc-ready")

	unready := v1.Container{Name: "c", Image: image, ReadinessProbe: grpcProbe(ptr.To("unhealthy"))}
	n.create(n.pod("grpc-unready", unready))
	n.waitPod("grpc-unready", 60*time.Second, "running", func(p *v1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	eventually(t, 30*time.Second, "an Unhealthy event naming NOT_SERVING", func() (bool, error) {
		for _, e := range n.events("grpc-unready") {
			if e.Reason == "Unhealthy" && strings.Contains(e.Message, `Readiness probe failed: service unhealthy (responded with "NOT_SERVING")`) {
				return true, nil
			}
		}
		return false, nil
	})
	if p := n.get("grpc-unready"); podReady(p) {
		t.Fatalf("Ready while its service is NOT_SERVING: %s", statusSummary(p))
	}

	// The server turns NOT_SERVING after a while: the liveness probe
	// fails and the container is restarted.
	live := v1.Container{Name: "c", Image: image, LivenessProbe: grpcProbe(nil), Env: []v1.EnvVar{{Name: "DOWN_AFTER", Value: "3s"}}}
	lp := n.pod("grpc-liveness", live)
	lp.Spec.TerminationGracePeriodSeconds = ptrInt64(1)
	n.create(lp)
	n.waitPod("grpc-liveness", 60*time.Second, "restarted", func(p *v1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	eventually(t, 10*time.Second, "Unhealthy and Killing events", func() (bool, error) {
		unhealthy, killing := false, false
		for _, e := range n.events("grpc-liveness") {
			unhealthy = unhealthy || (e.Reason == "Unhealthy" && strings.Contains(e.Message, `Liveness probe failed: service unhealthy (responded with "NOT_SERVING")`))
			killing = killing || (e.Reason == "Killing" && strings.Contains(e.Message, "failed liveness probe"))
		}
		return unhealthy && killing, nil
	})
}
