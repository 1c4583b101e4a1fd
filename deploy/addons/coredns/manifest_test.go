package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"coracle.dev/shared/addontest"
)

// manifestPath is the add-on's manifest, which the add-on manager applies.
const manifestPath = "manifest.yaml"

// clusterDNSIP is the ClusterIP of kube-dns: the kubelet's --cluster-dns.
const clusterDNSIP = "10.96.0.10"

func readManifest(t *testing.T) []runtime.Object {
	t.Helper()
	data, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := addontest.Decode(data)
	if err != nil {
		t.Fatalf("decode %s: %v", manifestPath, err)
	}
	return objs
}

// find is the object of the manifest of type T named name.
func find[T interface {
	runtime.Object
	GetName() string
}](t *testing.T, objs []runtime.Object, name string) T {
	t.Helper()
	for _, o := range objs {
		if typed, ok := o.(T); ok && typed.GetName() == name {
			return typed
		}
	}
	var zero T
	t.Fatalf("%s: no %T named %q", manifestPath, zero, name)
	return zero
}

// TestManifest checks the manifest's objects against what kubeadm deploys
// and what the rest of the cluster relies on: the kubelet's --cluster-dns
// address, the image make up pushes, the Corefile the pods read.
func TestManifest(t *testing.T) {
	objs := readManifest(t)
	var kinds []string
	for _, o := range objs {
		acc, err := meta.Accessor(o)
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, o.GetObjectKind().GroupVersionKind().Kind+"/"+acc.GetName())
		if ns := acc.GetNamespace(); ns != "" && ns != metav1.NamespaceSystem {
			t.Errorf("%s is in namespace %q, want kube-system", kinds[len(kinds)-1], ns)
		}
	}
	want := "ServiceAccount/coredns ClusterRole/system:coredns ClusterRoleBinding/system:coredns ConfigMap/coredns Deployment/coredns Service/kube-dns"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("objects:\n got %s\nwant %s", got, want)
	}

	svc := find[*corev1.Service](t, objs, "kube-dns")
	dep := find[*appsv1.Deployment](t, objs, "coredns")
	cm := find[*corev1.ConfigMap](t, objs, "coredns")
	role := find[*rbacv1.ClusterRole](t, objs, "system:coredns")
	pod := dep.Spec.Template.Spec
	var container corev1.Container
	if len(pod.Containers) == 1 {
		container = pod.Containers[0]
	}
	ports := func(ps []corev1.ContainerPort) string {
		var s []string
		for _, p := range ps {
			s = append(s, p.Name+":"+string(p.Protocol)+":"+itoa(p.ContainerPort))
		}
		return strings.Join(s, " ")
	}
	svcPorts := func(ps []corev1.ServicePort) string {
		var s []string
		for _, p := range ps {
			s = append(s, p.Name+":"+string(p.Protocol)+":"+itoa(p.Port)+"->"+p.TargetPort.String())
		}
		return strings.Join(s, " ")
	}
	boolp := func(b *bool) string {
		if b == nil {
			return "unset"
		}
		return map[bool]string{true: "true", false: "false"}[*b]
	}
	capabilities := func(sc *corev1.SecurityContext) string {
		if sc == nil || sc.Capabilities == nil {
			return ""
		}
		return "add " + join(sc.Capabilities.Add) + " drop " + join(sc.Capabilities.Drop)
	}
	replicas := "unset"
	if dep.Spec.Replicas != nil {
		replicas = itoa(*dep.Spec.Replicas)
	}
	sc := container.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	for _, c := range []struct {
		what      string
		got, want string
	}{
		{"kube-dns clusterIP", svc.Spec.ClusterIP, clusterDNSIP},
		{"kube-dns selector", svc.Spec.Selector["k8s-app"], "kube-dns"},
		{"kube-dns label k8s-app", svc.Labels["k8s-app"], "kube-dns"},
		{"kube-dns label kubernetes.io/cluster-service", svc.Labels["kubernetes.io/cluster-service"], "true"},
		{"kube-dns label kubernetes.io/name", svc.Labels["kubernetes.io/name"], "CoreDNS"},
		{"kube-dns annotation prometheus.io/port", svc.Annotations["prometheus.io/port"], "9153"},
		{"kube-dns annotation prometheus.io/scrape", svc.Annotations["prometheus.io/scrape"], "true"},
		{"kube-dns ports", svcPorts(svc.Spec.Ports), "dns:UDP:53->53 dns-tcp:TCP:53->53 metrics:TCP:9153->9153"},
		{"deployment label", dep.Labels["k8s-app"], "kube-dns"},
		{"deployment replicas", replicas, "2"},
		{"pod label", dep.Spec.Template.Labels["k8s-app"], "kube-dns"},
		{"priorityClassName", pod.PriorityClassName, "system-cluster-critical"},
		{"serviceAccountName", pod.ServiceAccountName, "coredns"},
		{"dnsPolicy", string(pod.DNSPolicy), string(corev1.DNSDefault)},
		{"containers", itoa(int32(len(pod.Containers))), "1"},
		{"image", container.Image, "coracle.dev/addons/coredns:v1.15.0"},
		{"command", join(container.Command), "/coredns"},
		{"args", join(container.Args), "-conf /etc/coredns/Corefile"},
		{"container ports", ports(container.Ports), "dns:UDP:53 dns-tcp:TCP:53 metrics:TCP:9153 liveness-probe:TCP:8080 readiness-probe:TCP:8181"},
		{"capabilities", capabilities(sc), "add NET_BIND_SERVICE drop ALL"},
		{"readOnlyRootFilesystem", boolp(sc.ReadOnlyRootFilesystem), "true"},
		{"allowPrivilegeEscalation", boolp(sc.AllowPrivilegeEscalation), "false"},
		{"memory limit", container.Resources.Limits.Memory().String(), "170Mi"},
		{"memory request", container.Resources.Requests.Memory().String(), "70Mi"},
		{"cpu request", container.Resources.Requests.Cpu().String(), "100m"},
		{"liveness probe", probe(container.LivenessProbe), "GET :liveness-probe/health"},
		{"readiness probe", probe(container.ReadinessProbe), "GET :readiness-probe/ready"},
		{"tolerations", tolerations(pod.Tolerations), "CriticalAddonsOnly:Exists: node-role.kubernetes.io/control-plane:Equal:NoSchedule"},
		{"anti-affinity", antiAffinity(pod.Affinity), "100:kubernetes.io/hostname:k8s-app In [kube-dns]"},
		{"config volume", configVolume(pod.Volumes, container.VolumeMounts), "coredns:Corefile->/etc/coredns/Corefile"},
		{"role", rules(role.Rules), "[] endpoints,services,pods,namespaces list,watch; [discovery.k8s.io] endpointslices list,watch"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
		}
	}
	// The Corefile is kubeadm's default for the cluster.local domain.
	for _, line := range []string{
		".:53 {", "errors", "health {", "lameduck 5s", "ready",
		"kubernetes cluster.local in-addr.arpa ip6.arpa {", "pods insecure",
		"fallthrough in-addr.arpa ip6.arpa", "ttl 30", "prometheus :9153",
		"forward . /etc/resolv.conf {", "max_concurrent 1000", "cache 30 {",
		"disable success cluster.local", "disable denial cluster.local",
		"loop", "reload", "loadbalance",
	} {
		if !hasLine(cm.Data["Corefile"], line) {
			t.Errorf("Corefile has no line %q", line)
		}
	}
}

func hasLine(text, line string) bool {
	for l := range strings.Lines(text) {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }

func join[T ~string](s []T) string {
	var out []string
	for _, v := range s {
		out = append(out, string(v))
	}
	return strings.Join(out, " ")
}

func probe(p *corev1.Probe) string {
	if p == nil || p.HTTPGet == nil {
		return "none"
	}
	return "GET :" + p.HTTPGet.Port.String() + p.HTTPGet.Path
}

func tolerations(ts []corev1.Toleration) string {
	var s []string
	for _, t := range ts {
		op := t.Operator
		if op == "" {
			op = corev1.TolerationOpEqual
		}
		s = append(s, t.Key+":"+string(op)+":"+string(t.Effect))
	}
	return strings.Join(s, " ")
}

func antiAffinity(a *corev1.Affinity) string {
	if a == nil || a.PodAntiAffinity == nil {
		return "none"
	}
	var s []string
	for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		term := w.PodAffinityTerm
		var exprs []string
		if term.LabelSelector != nil {
			for _, e := range term.LabelSelector.MatchExpressions {
				exprs = append(exprs, e.Key+" "+string(e.Operator)+" ["+strings.Join(e.Values, ",")+"]")
			}
		}
		s = append(s, itoa(w.Weight)+":"+term.TopologyKey+":"+strings.Join(exprs, ","))
	}
	return strings.Join(s, " ")
}

func configVolume(vols []corev1.Volume, mounts []corev1.VolumeMount) string {
	var s []string
	for _, m := range mounts {
		for _, v := range vols {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			for _, item := range v.ConfigMap.Items {
				s = append(s, v.ConfigMap.Name+":"+item.Key+"->"+m.MountPath+"/"+item.Path)
			}
		}
	}
	return strings.Join(s, " ")
}

func rules(rs []rbacv1.PolicyRule) string {
	var s []string
	for _, r := range rs {
		s = append(s, "["+strings.Join(r.APIGroups, ",")+"] "+strings.Join(r.Resources, ",")+" "+strings.Join(r.Verbs, ","))
	}
	return strings.Join(s, "; ")
}

// applyManifest creates every object of the manifest through the
// apiserver's REST API, as the add-on manager does on a new cluster,
// finding each kind's resource by discovery. It returns the warnings the
// apiserver answered with (fields it stores but does not act on).
func applyManifest(t *testing.T, cfg *rest.Config) []string {
	t.Helper()
	var warnings warningRecorder
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = &warnings
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, obj := range readManifest(t) {
		gvk := obj.GetObjectKind().GroupVersionKind()
		content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: content}
		u.SetGroupVersionKind(gvk)
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: the apiserver does not serve it: %v", gvk, err)
		}
		var res dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			res = dyn.Resource(mapping.Resource).Namespace(u.GetNamespace())
		}
		if _, err := res.Create(ctx, u, metav1.CreateOptions{FieldManager: "coredns-addon-test"}); err != nil {
			t.Fatalf("create %s %s/%s: %v", gvk.Kind, u.GetNamespace(), u.GetName(), err)
		}
	}
	return warnings.messages
}

// warningRecorder keeps the Warning headers of the responses.
type warningRecorder struct{ messages []string }

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, text string) {
	w.messages = append(w.messages, text)
}

// checkStored compares what the apiserver stored for the manifest's
// Deployment and Service with the manifest: defaulting may add fields,
// but none the manifest sets may be lost or changed.
func checkStored(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	objs := readManifest(t)
	want := find[*appsv1.Deployment](t, objs, "coredns")
	got, err := client.AppsV1().Deployments(metav1.NamespaceSystem).Get(ctx, "coredns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantPod, gotPod := want.Spec.Template.Spec, got.Spec.Template.Spec
	if len(gotPod.Containers) != 1 || gotPod.Containers[0].LivenessProbe == nil || gotPod.Containers[0].ReadinessProbe == nil || got.Spec.Strategy.RollingUpdate == nil {
		t.Fatalf("stored Deployment coredns lost its container, probes or rolling update: %+v", got.Spec)
	}
	wc, gc := wantPod.Containers[0], gotPod.Containers[0]
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"securityContext", gc.SecurityContext, wc.SecurityContext},
		{"resources", gc.Resources, wc.Resources},
		{"ports", gc.Ports, wc.Ports},
		{"command", gc.Command, wc.Command},
		{"args", gc.Args, wc.Args},
		{"volumeMounts", gc.VolumeMounts, wc.VolumeMounts},
		{"liveness probe handler", gc.LivenessProbe.ProbeHandler, wc.LivenessProbe.ProbeHandler},
		{"readiness probe handler", gc.ReadinessProbe.ProbeHandler, wc.ReadinessProbe.ProbeHandler},
		{"tolerations", gotPod.Tolerations, wantPod.Tolerations},
		{"affinity", gotPod.Affinity, wantPod.Affinity},
		{"nodeSelector", gotPod.NodeSelector, wantPod.NodeSelector},
		{"dnsPolicy", gotPod.DNSPolicy, wantPod.DNSPolicy},
		{"priorityClassName", gotPod.PriorityClassName, wantPod.PriorityClassName},
		{"serviceAccountName", gotPod.ServiceAccountName, wantPod.ServiceAccountName},
		{"replicas", got.Spec.Replicas, want.Spec.Replicas},
		{"strategy type", got.Spec.Strategy.Type, want.Spec.Strategy.Type},
		{"maxUnavailable", got.Spec.Strategy.RollingUpdate.MaxUnavailable, want.Spec.Strategy.RollingUpdate.MaxUnavailable},
		{"selector", got.Spec.Selector, want.Spec.Selector},
		{"template labels", got.Spec.Template.Labels, want.Spec.Template.Labels},
		{"config volume", configVolume(gotPod.Volumes, gc.VolumeMounts), configVolume(wantPod.Volumes, wc.VolumeMounts)},
	} {
		if !apiequality.Semantic.DeepEqual(c.got, c.want) {
			t.Errorf("stored Deployment coredns: %s is %+v, the manifest says %+v", c.what, c.got, c.want)
		}
	}
	// The probe's timings the manifest sets; periodSeconds is defaulted.
	live := *gc.LivenessProbe
	live.PeriodSeconds = wc.LivenessProbe.PeriodSeconds
	if !apiequality.Semantic.DeepEqual(live, *wc.LivenessProbe) {
		t.Errorf("stored liveness probe %+v, the manifest says %+v", *gc.LivenessProbe, *wc.LivenessProbe)
	}

	svc, err := client.CoreV1().Services(metav1.NamespaceSystem).Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != clusterDNSIP || len(svc.Spec.ClusterIPs) != 1 || svc.Spec.ClusterIPs[0] != clusterDNSIP {
		t.Errorf("kube-dns got clusterIP %q (clusterIPs %v), want %s", svc.Spec.ClusterIP, svc.Spec.ClusterIPs, clusterDNSIP)
	}
	wantSvc := find[*corev1.Service](t, objs, "kube-dns")
	if !apiequality.Semantic.DeepEqual(svc.Spec.Ports, wantSvc.Spec.Ports) {
		t.Errorf("stored kube-dns ports %+v, the manifest says %+v", svc.Spec.Ports, wantSvc.Spec.Ports)
	}
	if !apiequality.Semantic.DeepEqual(svc.Labels, wantSvc.Labels) || !apiequality.Semantic.DeepEqual(svc.Annotations, wantSvc.Annotations) {
		t.Errorf("stored kube-dns labels %v annotations %v, the manifest says %v %v", svc.Labels, svc.Annotations, wantSvc.Labels, wantSvc.Annotations)
	}
}
