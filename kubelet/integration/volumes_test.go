package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestVolumes(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	if _, err := n.client.CoreV1().ConfigMaps(n.ns).Create(ctx, &v1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "site"}, Data: map[string]string{"index.html": "from-configmap", "other": "x"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.client.CoreV1().Secrets(n.ns).Create(ctx, &v1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds"}, Data: map[string][]byte{"token": []byte("t0ken")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hostDir := filepath.Join(t.TempDir(), "host")
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hostDir, "h.txt"), []byte("from-host"), 0o644); err != nil {
		t.Fatal(err)
	}
	writer := sh("writer", "echo shared-data > /scratch/file; exec sleep 3600")
	writer.VolumeMounts = []v1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}
	reader := sh("reader", strings.Join([]string{
		"until [ -f /shared/file ]; do sleep 0.1; done",
		"cat /shared/file", "cat /web/index.html; echo", "ls /web", "cat /secret/token; echo",
		"cat /info/name; echo", "cat /host/h.txt; echo", "cat /sub/h.txt; echo",
		"grep ' /mem ' /proc/mounts | cut -d' ' -f3",
		"touch /web/new 2>/dev/null || echo web-read-only",
		"echo done; exec sleep 3600",
	}, "; "))
	reader.VolumeMounts = []v1.VolumeMount{
		{Name: "scratch", MountPath: "/shared"},
		{Name: "site", MountPath: "/web", ReadOnly: true},
		{Name: "creds", MountPath: "/secret"},
		{Name: "info", MountPath: "/info"},
		{Name: "host", MountPath: "/host"},
		{Name: "host", MountPath: "/sub", SubPath: "."},
		{Name: "mem", MountPath: "/mem"},
	}
	p := n.pod("vols", writer, reader)
	p.Spec.Volumes = []v1.Volume{
		{Name: "scratch", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
		{Name: "mem", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{Medium: v1.StorageMediumMemory}}},
		{Name: "site", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{
			LocalObjectReference: v1.LocalObjectReference{Name: "site"}, Items: []v1.KeyToPath{{Key: "index.html", Path: "index.html"}}}}},
		{Name: "creds", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "creds"}}},
		{Name: "info", VolumeSource: v1.VolumeSource{DownwardAPI: &v1.DownwardAPIVolumeSource{
			Items: []v1.DownwardAPIVolumeFile{{Path: "name", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}},
		{Name: "host", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: hostDir}}},
	}
	n.create(p)
	n.waitRunning("vols")
	out := n.waitLog("vols", "reader", "done")
	want := "shared-data\nfrom-configmap\nindex.html\nt0ken\nvols\nfrom-host\nfrom-host\ntmpfs\nweb-read-only\ndone\n"
	if out != want {
		t.Errorf("reader saw %q, want %q", out, want)
	}
	if err := n.client.CoreV1().Pods(n.ns).Delete(ctx, "vols", metav1.DeleteOptions{GracePeriodSeconds: ptrInt64(1)}); err != nil {
		t.Fatal(err)
	}
	n.waitGone("vols", 30*time.Second)
	if entries, _ := os.ReadDir(filepath.Join(n.opts.RootDir, "volumes")); len(entries) != 0 {
		t.Errorf("volumes left after the pod: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(hostDir, "h.txt")); err != nil {
		t.Errorf("the hostPath lost its file: %v", err)
	}
}
