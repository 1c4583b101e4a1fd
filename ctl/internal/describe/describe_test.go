package describe

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"coracle.dev/shared/golden"
)

// assertGolden compares got with testdata/name, or rewrites it with -update.
func assertGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Assert(t, filepath.Join("testdata", name), got)
}

// now is the clock of every description; objects are stamped before it.
var now = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

func at(ago time.Duration) metav1.Time { return metav1.NewTime(now.Add(-ago)) }

func q(s string) resource.Quantity { return resource.MustParse(s) }

func events() []corev1.Event {
	return []corev1.Event{
		{Type: "Warning", Reason: "BackOff", Message: "Back-off restarting failed container web in pod web-1", Count: 12,
			FirstTimestamp: at(10 * time.Minute), LastTimestamp: at(30 * time.Second), Source: corev1.EventSource{Component: "kubelet", Host: "node-1"}},
		{Type: "Normal", Reason: "Scheduled", Message: "Successfully assigned default/web-1 to node-1", Count: 1,
			FirstTimestamp: at(11 * time.Minute), LastTimestamp: at(11 * time.Minute), Source: corev1.EventSource{Component: "default-scheduler"}},
	}
}

func richPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", CreationTimestamp: at(11 * time.Minute),
			Labels:          map[string]string{"app": "web", "pod-template-hash": "5d4b8c7f9"},
			Annotations:     map[string]string{"note": "hello"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-5d4b8c7f9", Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{
			NodeName: "node-1", Priority: ptr.To[int32](0), ServiceAccountName: "default",
			Containers: []corev1.Container{{
				Name: "web", Image: "busybox:1.36", Command: []string{"sh", "-c"}, Args: []string{"serve"},
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("128Mi")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("64Mi")},
				},
				LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
					TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/ready"}}},
					InitialDelaySeconds: 5, TimeoutSeconds: 1, PeriodSeconds: 5, SuccessThreshold: 1, FailureThreshold: 3},
				Env: []corev1.EnvVar{{Name: "MODE", Value: "prod"},
					{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}}}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "cfg", MountPath: "/etc/web", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}},
			},
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, HostIP: "192.168.1.10", PodIP: "10.244.1.7", PodIPs: []corev1.PodIP{{IP: "10.244.1.7"}},
			StartTime: ptr.To(at(11 * time.Minute)), QOSClass: corev1.PodQOSBurstable,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionFalse},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
			},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "web", ContainerID: "runc://0123abcd", ImageID: "sha256:feedbeef", RestartCount: 4,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 2m40s restarting failed container"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1, StartedAt: at(2 * time.Minute), FinishedAt: at(time.Minute)}},
			}},
		},
	}
}

func TestPod(t *testing.T) {
	var b bytes.Buffer
	if err := Pod(&b, richPod(), events(), now); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "pod.golden", b.String())
}

func TestPodWithoutEventsOrNode(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: "default"},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort}}
	var b bytes.Buffer
	if err := Pod(&b, p, nil, now); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "pod-pending.golden", b.String())
}

func TestNode(t *testing.T) {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", CreationTimestamp: at(48 * time.Hour),
			Labels: map[string]string{"kubernetes.io/hostname": "node-1", "node-role.kubernetes.io/control-plane": ""}},
		Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"}, Unschedulable: true,
			Taints: []corev1.Taint{{Key: "node.kubernetes.io/unschedulable", Effect: corev1.TaintEffectNoSchedule}, {Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute}}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status",
				LastHeartbeatTime: at(10 * time.Second), LastTransitionTime: at(48 * time.Hour)}},
			Addresses:   []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}, {Type: corev1.NodeHostName, Address: "node-1"}},
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: q("2"), corev1.ResourceMemory: q("4Gi"), corev1.ResourcePods: q("110")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: q("2"), corev1.ResourceMemory: q("4Gi"), corev1.ResourcePods: q("110")},
			NodeInfo: corev1.NodeSystemInfo{KernelVersion: "6.1.0", OSImage: "Debian GNU/Linux 12 (bookworm)", OperatingSystem: "linux",
				Architecture: "amd64", ContainerRuntimeVersion: "runc://1.1.5", KubeletVersion: "v1.32.0+coracle-0.1.0"},
		},
	}
	lease := &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node-1"), RenewTime: ptr.To(metav1.NewMicroTime(now.Add(-5 * time.Second)))}}
	var b bytes.Buffer
	if err := Node(&b, node, lease, nil, []corev1.Pod{*richPod()}, events(), now); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "node.golden", b.String())
}

func deployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: at(time.Hour), Generation: 3,
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"deployment.kubernetes.io/revision": "2"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptr.To(intstr.FromString("25%")), MaxSurge: ptr.To(intstr.FromString("25%"))}},
			Template: richTemplate("busybox:1.37")},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 4, UpdatedReplicas: 2, AvailableReplicas: 2, UnavailableReplicas: 2,
			Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: "MinimumReplicasUnavailable"},
				{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"},
			}},
	}
}

func richTemplate(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image, Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
			Env: []corev1.EnvVar{{Name: "MODE", Value: "prod"}}}}}}
}

func replicaSet(name, rev, image string, replicas int32) appsv1.ReplicaSet {
	tmpl := richTemplate(image)
	return appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: map[string]string{"deployment.kubernetes.io/revision": rev},
			Labels:          map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "web", Controller: ptr.To(true)}}},
		Spec:   appsv1.ReplicaSetSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: tmpl},
		Status: appsv1.ReplicaSetStatus{Replicas: replicas},
	}
}

func TestDeployment(t *testing.T) {
	old := replicaSet("web-aaa", "1", "busybox:1.36", 2)
	cur := replicaSet("web-bbb", "2", "busybox:1.37", 2)
	var b bytes.Buffer
	if err := Deployment(&b, deployment(), []appsv1.ReplicaSet{old}, &cur, events(), now); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "deployment.golden", b.String())
}

func TestReplicaSet(t *testing.T) {
	rs := replicaSet("web-bbb", "2", "busybox:1.37", 3)
	pods := []corev1.Pod{*richPod(), *richPod(), *richPod()}
	pods[1].Status.Phase = corev1.PodPending
	pods[2].Status.Phase = corev1.PodFailed
	var b bytes.Buffer
	if err := ReplicaSet(&b, &rs, pods, nil, now); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "replicaset.golden", b.String())
}

func TestService(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.12.34", ClusterIPs: []string{"10.96.12.34"},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, IPFamilyPolicy: ptr.To(corev1.IPFamilyPolicySingleStack), SessionAffinity: corev1.ServiceAffinityNone,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080, Protocol: corev1.ProtocolTCP},
				{Name: "metrics", Port: 9090, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP}}},
	}
	var addrs []corev1.EndpointAddress
	for _, ip := range []string{"10.244.1.7", "10.244.1.8", "10.244.2.3", "10.244.2.4"} {
		addrs = append(addrs, corev1.EndpointAddress{IP: ip})
	}
	ep := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Addresses: addrs, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}, {Name: "metrics", Port: 9090}}}}}
	var b bytes.Buffer
	if err := Service(&b, svc, ep, nil, now); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "service.golden", b.String())
}

func TestNamespace(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"kubernetes.io/metadata.name": "team-a"}},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	var b bytes.Buffer
	if err := Namespace(&b, ns, nil, nil, nil, now); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "namespace.golden", b.String())
}

func quotas() []corev1.ResourceQuota {
	return []corev1.ResourceQuota{
		{
			ObjectMeta: metav1.ObjectMeta{Name: "object-counts", Namespace: "team-a"},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"configmaps": q("10"), "count/deployments.apps": q("5")}},
			Status: corev1.ResourceQuotaStatus{
				Hard: corev1.ResourceList{"configmaps": q("10"), "count/deployments.apps": q("5")},
				Used: corev1.ResourceList{"configmaps": q("1"), "count/deployments.apps": q("2")},
			},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "compute", Namespace: "team-a"},
			Spec: corev1.ResourceQuotaSpec{Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopeNotBestEffort},
				Hard: corev1.ResourceList{"pods": q("4"), "requests.cpu": q("2"), "limits.memory": q("2Gi")}},
			Status: corev1.ResourceQuotaStatus{
				Hard: corev1.ResourceList{"pods": q("4"), "requests.cpu": q("2"), "limits.memory": q("2Gi")},
				Used: corev1.ResourceList{"pods": q("1"), "requests.cpu": q("250m"), "limits.memory": q("0")},
			},
		},
	}
}

func limitRanges() []corev1.LimitRange {
	return []corev1.LimitRange{{
		ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "team-a"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
			{Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{"cpu": q("1")}, Min: corev1.ResourceList{"cpu": q("50m")},
				Default: corev1.ResourceList{"cpu": q("500m"), "memory": q("512Mi")}, DefaultRequest: corev1.ResourceList{"cpu": q("100m"), "memory": q("256Mi")},
				MaxLimitRequestRatio: corev1.ResourceList{"cpu": q("10")}},
			{Type: corev1.LimitTypePersistentVolumeClaim, Min: corev1.ResourceList{"storage": q("1Gi")}},
		}},
	}}
}

func TestNamespaceWithQuotasAndLimits(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"kubernetes.io/metadata.name": "team-a"}},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	var b bytes.Buffer
	if err := Namespace(&b, ns, quotas(), limitRanges(), nil, now); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "namespace-quota.golden", b.String())
}

func TestResourceQuota(t *testing.T) {
	var b bytes.Buffer
	if err := ResourceQuota(&b, &quotas()[1], now); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "resourcequota.golden", b.String())
}

func TestLimitRange(t *testing.T) {
	var b bytes.Buffer
	if err := LimitRange(&b, &limitRanges()[0], now); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "limitrange.golden", b.String())
}

func TestGeneric(t *testing.T) {
	job := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": "migrate", "namespace": "default", "creationTimestamp": "2026-03-04T11:00:00Z", "uid": "1234",
			"labels": map[string]any{"app": "db"}},
		"spec": map[string]any{"backoffLimit": int64(6), "completions": int64(1),
			"template": map[string]any{"spec": map[string]any{"restartPolicy": "Never",
				"containers": []any{map[string]any{"name": "migrate", "image": "busybox", "args": []any{"migrate", "--all"}}}}}},
		"status": map[string]any{"active": int64(1), "startTime": "2026-03-04T11:00:01Z"},
	}}
	var b bytes.Buffer
	if err := Generic(&b, job, events()[1:], now); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "generic-job.golden", b.String())
}

func TestCertificateSigningRequest(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "system:node:node-2", Organization: []string{"system:nodes"}},
		DNSNames:    []string{"node-2"},
		IPAddresses: []net.IP{net.ParseIP("172.31.250.12")},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "csr-x7k2p", CreationTimestamp: at(2 * time.Minute)},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:           pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName:        certificatesv1.KubeletServingSignerName,
			ExpirationSeconds: ptr.To(int32(86400)),
			Username:          "system:node:node-2",
		},
		Status: certificatesv1.CertificateSigningRequestStatus{
			Conditions:  []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}},
			Certificate: []byte("issued"),
		},
	}
	var b bytes.Buffer
	if err := CertificateSigningRequest(&b, csr, nil, now); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "csr.golden", b.String())
}
