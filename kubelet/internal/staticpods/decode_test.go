package staticpods

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

const goodManifest = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: c
    image: busybox
    command: [sleep, "3600"]
`

func TestDecodeSinglePodMakesAStaticPod(t *testing.T) {
	parsed, pod, err := decodeSinglePod([]byte(goodManifest), SourceFile, "/etc/manifests/web.yaml", "Node-1")
	if !parsed || err != nil {
		t.Fatalf("decode: parsed %v, %v", parsed, err)
	}
	if pod.Name != "web-node-1" {
		t.Errorf("name %q, want web-node-1 (manifest's name, then the node's, lowercased)", pod.Name)
	}
	if pod.Namespace != "default" {
		t.Errorf("namespace %q, want default", pod.Namespace)
	}
	if pod.Spec.NodeName != "Node-1" {
		t.Errorf("spec.nodeName %q", pod.Spec.NodeName)
	}
	if len(pod.UID) != 32 {
		t.Errorf("UID %q: want the 128-bit hash, in hex", pod.UID)
	}
	if got := pod.Annotations[ConfigHashAnnotationKey]; got != string(pod.UID) {
		t.Errorf("config.hash %q, want the UID %q", got, pod.UID)
	}
	if got := pod.Annotations[ConfigSourceAnnotationKey]; got != SourceFile {
		t.Errorf("config.source %q", got)
	}
	if pod.Status.Phase != v1.PodPending {
		t.Errorf("phase %q", pod.Status.Phase)
	}
	c := pod.Spec.Containers[0]
	if c.ImagePullPolicy != v1.PullAlways || c.TerminationMessagePath != v1.TerminationMessagePathDefault ||
		pod.Spec.RestartPolicy != v1.RestartPolicyAlways || pod.Spec.DNSPolicy != v1.DNSClusterFirst ||
		pod.Spec.TerminationGracePeriodSeconds == nil || *pod.Spec.TerminationGracePeriodSeconds != 30 {
		t.Errorf("defaults not applied: %+v", pod.Spec)
	}
	want := v1.Toleration{Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute}
	if len(pod.Spec.Tolerations) != 1 || pod.Spec.Tolerations[0] != want {
		t.Errorf("tolerations %+v, want the NoExecute one of file pods", pod.Spec.Tolerations)
	}
}

func TestStaticPodUID(t *testing.T) {
	uid := func(manifest, sourceKind, source, node string) string {
		t.Helper()
		_, pod, err := decodeSinglePod([]byte(manifest), sourceKind, source, node)
		if err != nil {
			t.Fatal(err)
		}
		return string(pod.UID)
	}
	base := uid(goodManifest, SourceFile, "/m/web.yaml", "n1")
	edited := strings.Replace(goodManifest, `"3600"`, `"3601"`, 1)
	for _, tc := range []struct {
		name string
		got  string
		same bool
	}{
		{"same manifest, node and file: same UID", uid(goodManifest, SourceFile, "/m/web.yaml", "n1"), true},
		{"JSON of the same pod: same UID", uid(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox","command":["sleep","3600"]}]}}`, SourceFile, "/m/web.yaml", "n1"), true},
		{"edited manifest: new UID", uid(edited, SourceFile, "/m/web.yaml", "n1"), false},
		{"other node: other UID", uid(goodManifest, SourceFile, "/m/web.yaml", "n2"), false},
		{"other file: other UID", uid(goodManifest, SourceFile, "/m/web2.yaml", "n1"), false},
		{"from a URL: other UID", uid(goodManifest, SourceHTTP, "/m/web.yaml", "n1"), false},
		{"UID in the manifest is kept", uid(strings.Replace(goodManifest, "name: web\n", "name: web\n  uid: \"12345\"\n", 1), SourceFile, "/m/web.yaml", "n1"), false},
	} {
		if (tc.got == base) != tc.same {
			t.Errorf("%s: %s vs %s", tc.name, tc.got, base)
		}
	}
	if got := uid(strings.Replace(goodManifest, "name: web\n", "name: web\n  uid: \"12345\"\n", 1), SourceFile, "/m/web.yaml", "n1"); got != "12345" {
		t.Errorf("manifest's UID: got %q", got)
	}
}

func TestURLPodsHaveNoDefaultToleration(t *testing.T) {
	_, pod, err := decodeSinglePod([]byte(goodManifest), SourceHTTP, "http://127.0.0.1/pod", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if len(pod.Spec.Tolerations) != 0 || pod.Annotations[ConfigSourceAnnotationKey] != SourceHTTP {
		t.Errorf("tolerations %v, source %q", pod.Spec.Tolerations, pod.Annotations[ConfigSourceAnnotationKey])
	}
}

func TestDecodeRefusesBadManifests(t *testing.T) {
	withSpec := func(spec string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n" + spec
	}
	const ctr = "  containers:\n  - name: c\n    image: busybox\n"
	for _, tc := range []struct {
		name, manifest string
		parsed         bool
		want           string
	}{
		{"not YAML", "{{{", false, ""},
		{"not a pod", "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n", false, "is not a Pod"},
		{"no name", "apiVersion: v1\nkind: Pod\nspec:\n" + ctr, true, "name is needed for the pod"},
		{"no containers", withSpec("  restartPolicy: Always\n"), true, "spec.containers: Required value"},
		{"no image", withSpec("  containers:\n  - name: c\n"), true, "spec.containers[0].image: Required value"},
		{"duplicate container", withSpec(ctr + "  - name: c\n    image: busybox\n"), true, "Duplicate value"},
		{"bad restart policy", withSpec(ctr + "  restartPolicy: Sometimes\n"), true, "spec.restartPolicy: Unsupported value"},
		{"mount of no volume", withSpec(ctr + "    volumeMounts: [{name: v, mountPath: /v}]\n"), true, "volumeMounts[0].name: Not found"},
		{"secret volume", withSpec(ctr + "  volumes: [{name: s, secret: {secretName: x}}]\n"), true, "static pods may not reference secrets"},
		{"configMap volume", withSpec(ctr + "  volumes: [{name: s, configMap: {name: x}}]\n"), true, "static pods may not reference configmaps"},
		{"env from a configMap", withSpec(ctr + "    envFrom: [{configMapRef: {name: x}}]\n"), true, "static pods may not reference configmaps"},
		{"env from a secret", withSpec(ctr + "    env: [{name: A, valueFrom: {secretKeyRef: {name: x, key: k}}}]\n"), true, "static pods may not reference secrets"},
		{"service account", withSpec(ctr + "  serviceAccountName: default\n"), true, "static pods may not reference serviceaccounts"},
		{"token volume", withSpec(ctr + "  volumes: [{name: t, projected: {sources: [{serviceAccountToken: {path: token}}]}}]\n"), true, "static pods may not reference serviceaccounts (via projected volumes)"},
		{"claim", withSpec(ctr + "  volumes: [{name: d, persistentVolumeClaim: {claimName: x}}]\n"), true, "static pods may not reference persistentvolumeclaims"},
		{"ephemeral container", withSpec(ctr + "  ephemeralContainers: [{name: d, image: busybox}]\n"), true, "spec.ephemeralContainers: Forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parsed, pod, err := decodeSinglePod([]byte(tc.manifest), SourceFile, "/m/p.yaml", "n1")
			if err == nil || pod != nil {
				t.Fatalf("accepted: %+v", pod)
			}
			if parsed != tc.parsed {
				t.Errorf("parsed %v, want %v (%v)", parsed, tc.parsed, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestDecodeKeepsAllowedVolumes(t *testing.T) {
	m := goodManifest + "    volumeMounts: [{name: h, mountPath: /h}, {name: e, mountPath: /e}, {name: d, mountPath: /d}]\n" +
		"  volumes:\n  - {name: h, hostPath: {path: /tmp}}\n  - {name: e, emptyDir: {}}\n" +
		"  - {name: d, downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}}\n"
	if _, _, err := decodeSinglePod([]byte(m), SourceFile, "/m/p.yaml", "n1"); err != nil {
		t.Fatal(err)
	}
}

func TestDecodePodList(t *testing.T) {
	list := `{"apiVersion":"v1","kind":"PodList","items":[
{"metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"busybox"}]}},
{"metadata":{"name":"b","namespace":"kube-system"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}]}`
	parsed, pods, err := decodePodList([]byte(list), "http://127.0.0.1/pods", "n1")
	if !parsed || err != nil || len(pods) != 2 {
		t.Fatalf("parsed %v, %d pods, %v", parsed, len(pods), err)
	}
	if pods[0].Name != "a-n1" || pods[1].Name != "b-n1" || pods[1].Namespace != "kube-system" || pods[0].UID == pods[1].UID {
		t.Errorf("pods %s/%s %s/%s", pods[0].Namespace, pods[0].Name, pods[1].Namespace, pods[1].Name)
	}
}
