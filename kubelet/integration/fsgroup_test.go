package integration

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestFSGroup runs a non-root pod with an fsGroup and an emptyDir, a
// configMap and a secret volume: the process has the group, the volumes
// and their files are the group's with Kubernetes' bits (an emptyDir
// 2777, a configMap's root 2777 and its file of defaultMode 0400 given
// the group's read bit), and what the user makes in the emptyDir is the
// group's.
func TestFSGroup(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	if _, err := n.client.CoreV1().ConfigMaps(n.ns).Create(ctx, &v1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"key": "from-configmap"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.client.CoreV1().Secrets(n.ns).Create(ctx, &v1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "sec"}, Data: map[string][]byte{"password": []byte("s3cret")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := sh("c", strings.Join([]string{
		"id -u", "id -g", "id -G",
		// The roots, and the files through their links.
		"stat -c '%n %g %a' /data /cfg /sec", "stat -L -c '%n %g %a' /cfg/key /sec/password",
		// The user (not the owner, not root) reads a 0400 file by
		// its group.
		"cat /cfg/key; echo", "cat /sec/password; echo",
		"echo x > /data/f && mkdir /data/d && stat -c '%n %u %g %a' /data/f /data/d",
		"echo done",
	}, "; "))
	c.VolumeMounts = []v1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "cfg", MountPath: "/cfg"}, {Name: "sec", MountPath: "/sec"}}
	p := n.pod("fsgroup", c)
	p.Spec.SecurityContext = &v1.PodSecurityContext{RunAsUser: ptrInt64(1000), RunAsGroup: ptrInt64(3000), FSGroup: ptrInt64(2000)}
	p.Spec.Volumes = []v1.Volume{
		{Name: "data", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
		{Name: "cfg", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{
			LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptrInt32(0o400)}}},
		{Name: "sec", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "sec"}}},
	}
	out := n.runToEnd(p, "c")
	want := strings.Join([]string{
		"1000", "3000",
		"", // id -G, checked below
		"/data 2000 2777", "/cfg 2000 2777", "/sec 2000 2777",
		"/cfg/key 2000 440", "/sec/password 2000 644",
		"from-configmap", "s3cret",
		"/data/f 1000 2000 644", "/data/d 1000 2000 2755",
		"done", "",
	}, "\n")
	lines := strings.Split(out, "\n")
	if len(lines) > 2 {
		groups := strings.Fields(lines[2])
		if !slices.Contains(groups, "2000") || !slices.Contains(groups, "3000") {
			t.Errorf("groups %v, want 3000 and the fsGroup 2000", groups)
		}
		lines[2] = ""
	}
	if got := strings.Join(lines, "\n"); got != want {
		t.Errorf("the container saw\n%s\nwant\n%s", got, want)
	}
}

// TestFSGroupOnRootMismatchEmptyDir: an emptyDir gets the fsGroup
// whatever the fsGroupChangePolicy (Kubernetes' emptyDir ignores it),
// once, when it is set up: a restarted container finds the modes its
// previous attempt gave its files.
func TestFSGroupOnRootMismatchEmptyDir(t *testing.T) {
	n := startNode(t)
	c := sh("c", strings.Join([]string{
		"if [ -f /data/private ]; then stat -c '%n %g %a' /data /data/private; echo done; exec sleep 3600; fi",
		"echo x > /data/private && chmod 600 /data/private",
		"exit 1",
	}, "; "))
	c.VolumeMounts = []v1.VolumeMount{{Name: "data", MountPath: "/data"}}
	p := n.pod("onrootmismatch", c)
	p.Spec.RestartPolicy = v1.RestartPolicyOnFailure
	policy := v1.FSGroupChangeOnRootMismatch
	p.Spec.SecurityContext = &v1.PodSecurityContext{RunAsUser: ptrInt64(1000), FSGroup: ptrInt64(2000), FSGroupChangePolicy: &policy}
	p.Spec.Volumes = []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}}
	n.create(p)
	n.waitPod("onrootmismatch", 60*time.Second, "restarted once", func(p *v1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	// The user's own chmod stays: the volume was not walked again.
	if out, want := n.waitLog("onrootmismatch", "c", "done"), "/data 2000 2777\n/data/private 2000 600\ndone\n"; out != want {
		t.Errorf("the second attempt saw %q, want %q", out, want)
	}
}

func ptrInt32(v int32) *int32 { return &v }
