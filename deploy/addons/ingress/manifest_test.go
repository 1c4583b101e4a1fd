package main

import (
	"net"
	"slices"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/intstr"

	"coracle.dev/addons/ingress/app"
	"coracle.dev/shared/addontest"
)

// image is what the build packs this directory's binary as.
const image = "coracle.dev/addons/ingress:v0.1.0"

// TestManifest checks the manifest against the binary it runs: the flags
// parse and agree with the ports, the probe and the Service, and the
// ClusterRole grants what the controller does.
func TestManifest(t *testing.T) {
	objs := addontest.Manifest(t, "manifest.yaml")
	for _, o := range objs {
		acc, err := meta.Accessor(o)
		if err != nil {
			t.Fatal(err)
		}
		namespaced := acc.GetNamespace() != ""
		_, isClass := o.(*networkingv1.IngressClass)
		_, isRole := o.(*rbacv1.ClusterRole)
		_, isBinding := o.(*rbacv1.ClusterRoleBinding)
		if cluster := isClass || isRole || isBinding; cluster == namespaced || (namespaced && acc.GetNamespace() != "kube-system") {
			t.Errorf("%T %s in namespace %q", o, acc.GetName(), acc.GetNamespace())
		}
	}

	class := addontest.Only[*networkingv1.IngressClass](t, objs)
	if class.Name != app.DefaultIngressClass || class.Spec.Controller != app.DefaultControllerName ||
		class.Annotations[networkingv1.AnnotationIsDefaultIngressClass] != "true" {
		t.Errorf("ingress class %s: controller %q, annotations %v", class.Name, class.Spec.Controller, class.Annotations)
	}

	deploy := addontest.Only[*appsv1.Deployment](t, objs)
	pod := deploy.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != image || !slices.Equal(c.Command, []string{"/ingress"}) {
		t.Errorf("container runs %v of %s, want /ingress of %s", c.Command, c.Image, image)
	}
	cfg, _, err := app.Daemon().Load(c.Args)
	if err != nil {
		t.Fatalf("the args do not parse: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the args are invalid: %v", err)
	}
	if cfg.Kubeconfig != "" {
		t.Error("the pod must use its ServiceAccount (no --kubeconfig)")
	}
	portOf := func(addr string) int32 {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			t.Fatal(err)
		}
		return int32(n)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] != portOf(cfg.HTTPAddress) || ports["https"] != portOf(cfg.HTTPSAddress) || ports["metrics"] != portOf(cfg.StatusAddress) {
		t.Errorf("container ports %v do not match --http-address %s, --https-address %s, --status-address %s",
			ports, cfg.HTTPAddress, cfg.HTTPSAddress, cfg.StatusAddress)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port != intstr.FromString("metrics") {
		t.Errorf("readiness probe %+v, want /readyz on the metrics port", p)
	}
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		!slices.Equal(sc.Capabilities.Add, []corev1.Capability{"NET_BIND_SERVICE"}) {
		t.Errorf("security context %+v: want ALL dropped, NET_BIND_SERVICE added", sc)
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || m.MountPath == cfg.DataDir
	}
	if !mounted {
		t.Errorf("--data-dir %s is not a volume (the root filesystem is read-only)", cfg.DataDir)
	}
	if pod.TerminationGracePeriodSeconds == nil || float64(*pod.TerminationGracePeriodSeconds) <= cfg.DrainTimeout.Seconds() {
		t.Errorf("terminationGracePeriodSeconds %v must exceed --drain-timeout %v", pod.TerminationGracePeriodSeconds, cfg.DrainTimeout)
	}

	svc := addontest.Only[*corev1.Service](t, objs)
	if cfg.PublishService != svc.Namespace+"/"+svc.Name {
		t.Errorf("--publish-service %q, but the Service is %s/%s", cfg.PublishService, svc.Namespace, svc.Name)
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Errorf("service type %s, want LoadBalancer", svc.Spec.Type)
	}
	for k, v := range svc.Spec.Selector {
		if deploy.Spec.Template.Labels[k] != v {
			t.Errorf("service selector %v does not select the pods (%v)", svc.Spec.Selector, deploy.Spec.Template.Labels)
		}
	}
	svcPorts := map[int32]string{}
	for _, p := range svc.Spec.Ports {
		svcPorts[p.Port] = p.TargetPort.StrVal
	}
	if svcPorts[80] != "http" || svcPorts[443] != "https" {
		t.Errorf("service ports %v, want 80 to http and 443 to https", svcPorts)
	}

	sa := addontest.Only[*corev1.ServiceAccount](t, objs)
	if pod.ServiceAccountName != sa.Name {
		t.Errorf("pods run as %q, the ServiceAccount is %q", pod.ServiceAccountName, sa.Name)
	}
	role, binding := addontest.Only[*rbacv1.ClusterRole](t, objs), addontest.Only[*rbacv1.ClusterRoleBinding](t, objs)
	if binding.RoleRef.Name != role.Name || len(binding.Subjects) != 1 ||
		binding.Subjects[0].Name != sa.Name || binding.Subjects[0].Namespace != sa.Namespace {
		t.Errorf("binding %+v does not bind %s to %s/%s", binding, role.Name, sa.Namespace, sa.Name)
	}
	for _, need := range []struct{ group, resource, verb string }{
		{"networking.k8s.io", "ingresses", "list"}, {"networking.k8s.io", "ingresses", "watch"},
		{"networking.k8s.io", "ingressclasses", "list"}, {"networking.k8s.io", "ingressclasses", "watch"},
		{"networking.k8s.io", "ingresses/status", "update"},
		{"", "services", "list"}, {"", "services", "watch"},
		{"", "secrets", "list"}, {"", "secrets", "watch"},
		{"discovery.k8s.io", "endpointslices", "list"}, {"discovery.k8s.io", "endpointslices", "watch"},
		{"", "events", "create"}, {"", "events", "patch"},
	} {
		if !allows(role, need.group, need.resource, need.verb) {
			t.Errorf("the ClusterRole does not allow %s %s.%s", need.verb, need.resource, need.group)
		}
	}
}

func allows(role *rbacv1.ClusterRole, group, resource, verb string) bool {
	for _, r := range role.Rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}
