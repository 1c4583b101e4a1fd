package multinode

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

// nodeClient is a client with node n's own credential, the kubelet.conf
// its TLS bootstrap wrote.
func (n *node) client(t testing.TB) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(n.confDir(), "kubelet.conf"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// testNodeAuthorization: a kubelet reads the Secret a pod bound to it
// uses, and not one that only another node's pod uses; it may not list
// Secrets nor change another node.
func testNodeAuthorization(t *testing.T, c *cluster) {
	ctx := context.Background()
	mine, other := c.nodes[0], c.nodes[1]
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "node-only"}, StringData: map[string]string{"k": "v"}}
	if _, err := c.client.CoreV1().Secrets("default").Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "uses-secret"},
		Spec: corev1.PodSpec{
			NodeName: other.name,
			Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"},
				EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "node-only"}}}}}},
		},
	}
	if _, err := c.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		zero := int64(0)
		_ = c.client.CoreV1().Pods("default").Delete(context.Background(), "uses-secret", metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	c.poll(t, 30*time.Second, other.name+" reading the Secret its pod uses", func() (bool, string) {
		_, err := other.client(t).CoreV1().Secrets("default").Get(ctx, "node-only", metav1.GetOptions{})
		return err == nil, errString(err)
	})
	_, err := mine.client(t).CoreV1().Secrets("default").Get(ctx, "node-only", metav1.GetOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "no relationship found between node '"+mine.name+"' and this object") {
		t.Errorf("%s reading another node's pod's Secret: %v, want 403", mine.name, err)
	}
	if _, err := mine.client(t).CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("%s listing Secrets: %v, want 403", mine.name, err)
	}
	n, err := c.client.CoreV1().Nodes().Get(ctx, other.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Labels["stolen"] = "yes"
	if _, err := mine.client(t).CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("%s updating %s: %v, want 403", mine.name, other.name, err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// pushPodLister builds testdata/podlister, a client-go program, into an
// image on busybox in the cluster's registry, as a user ships a
// controller, and returns its name as pods refer to it (the kubelets
// mirror docker.io from that registry).
func pushPodLister(t *testing.T, c *cluster) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "podlister")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./testdata/podlister")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the in-pod program: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if err := tw.WriteHeader(&tar.Header{Name: "usr/local/bin/podlister", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	baseRef, err := name.ParseReference(c.registry+"/library/busybox:latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	base, err := remote.Image(baseRef)
	if err != nil {
		t.Fatalf("busybox from %s: %v", c.registry, err)
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: l})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(c.registry+"/library/podlister:e2e", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return "podlister:e2e"
}

// testInPodClient: a real client-go program in a pod lists pods with the
// ServiceAccount token the kubelet mounts: refused before a RoleBinding,
// allowed with it, refused again once it is deleted.
func testInPodClient(t *testing.T, c *cluster) {
	ctx := context.Background()
	image := pushPodLister(t, c)
	const ns = "inpod"
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	// The controller manager makes the namespace's default ServiceAccount
	// and its kube-root-ca.crt; the pod is refused until then.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "lister"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "lister", Image: image, Command: []string{"/usr/local/bin/podlister"},
		}}},
	}
	c.poll(t, 60*time.Second, "the pod admitted with the default ServiceAccount", func() (bool, string) {
		_, err := c.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		return err == nil || apierrors.IsAlreadyExists(err), errString(err)
	})
	logs := func() string {
		out, err := c.client.CoreV1().Pods(ns).GetLogs("lister", &corev1.PodLogOptions{TailLines: ptr.To(int64(3))}).DoRaw(ctx)
		if err != nil {
			return err.Error()
		}
		return string(out)
	}
	lastLine := func() string {
		lines := strings.Split(strings.TrimSpace(logs()), "\n")
		return lines[len(lines)-1]
	}
	c.poll(t, 3*time.Minute, "the program refused with 403", func() (bool, string) {
		l := lastLine()
		return strings.HasPrefix(l, "FORBIDDEN") && strings.Contains(l, `User "system:serviceaccount:inpod:default" cannot list resource "pods"`), l
	})
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "default-views"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: ns}},
	}
	if _, err := c.client.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.poll(t, 30*time.Second, "the program allowed with the RoleBinding", func() (bool, string) {
		l := lastLine()
		return l == "ALLOWED 1", l
	})
	if err := c.client.RbacV1().RoleBindings(ns).Delete(ctx, "default-views", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.poll(t, 30*time.Second, "the program refused again", func() (bool, string) {
		l := lastLine()
		return strings.HasPrefix(l, "FORBIDDEN"), l
	})
}
