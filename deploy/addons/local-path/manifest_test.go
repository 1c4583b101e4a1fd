package main

import (
	"net"
	"slices"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/intstr"

	"coracle.dev/addons/local-path/app"
	"coracle.dev/addons/local-path/internal/config"
	"coracle.dev/shared/addontest"
)

// image is what the build packs this directory's binary as.
const image = "coracle.dev/addons/local-path:v0.1.0"

// TestManifest checks the manifest against the binary it runs: the flags
// and environment parse into a valid configuration that names the
// manifest's own ConfigMap, ServiceAccount and image (for the helper
// pods), the ConfigMap's config.json loads, the StorageClass is the
// default one of this provisioner, and the roles grant what the
// provisioner does.
func TestManifest(t *testing.T) {
	objs := addontest.Manifest(t, "manifest.yaml")
	for _, o := range objs {
		acc, err := meta.Accessor(o)
		if err != nil {
			t.Fatal(err)
		}
		namespaced := acc.GetNamespace() != ""
		_, isClass := o.(*storagev1.StorageClass)
		_, isRole := o.(*rbacv1.ClusterRole)
		_, isBinding := o.(*rbacv1.ClusterRoleBinding)
		if cluster := isClass || isRole || isBinding; cluster == namespaced || (namespaced && acc.GetNamespace() != "kube-system") {
			t.Errorf("%T %s in namespace %q", o, acc.GetName(), acc.GetNamespace())
		}
	}

	deploy := addontest.Only[*appsv1.Deployment](t, objs)
	if deploy.Spec.Replicas == nil || *deploy.Spec.Replicas != 1 {
		t.Errorf("replicas %v: want 1 (there is no leader election)", deploy.Spec.Replicas)
	}
	pod := deploy.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != image || !slices.Equal(c.Command, []string{"/local-path"}) {
		t.Errorf("container runs %v of %s, want /local-path of %s", c.Command, c.Image, image)
	}
	for _, e := range c.Env {
		t.Setenv(e.Name, e.Value)
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
	if cfg.HelperImage != c.Image || cfg.HelperCommand != c.Command[0] {
		t.Errorf("helper pods would run %s of %s; the provisioner is %s of %s", cfg.HelperCommand, cfg.HelperImage, c.Command[0], c.Image)
	}
	if cfg.Namespace != deploy.Namespace {
		t.Errorf("--namespace %s, but the provisioner runs in %s", cfg.Namespace, deploy.Namespace)
	}
	_, port, err := net.SplitHostPort(cfg.StatusAddress)
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]string{}
	for _, p := range c.Ports {
		ports[p.Name] = strconv.Itoa(int(p.ContainerPort))
	}
	if ports["metrics"] != port {
		t.Errorf("container ports %v do not match --status-address %s", ports, cfg.StatusAddress)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port != intstr.FromString("metrics") {
		t.Errorf("readiness probe %+v, want /readyz on the metrics port", p)
	}

	cm := addontest.Only[*corev1.ConfigMap](t, objs)
	if cm.Name != cfg.ConfigMapName || cm.Namespace != cfg.Namespace {
		t.Errorf("ConfigMap %s/%s, but the provisioner reads %s/%s", cm.Namespace, cm.Name, cfg.Namespace, cfg.ConfigMapName)
	}
	nc, err := config.Parse([]byte(cm.Data[config.Key]))
	if err != nil {
		t.Fatalf("the ConfigMap's %s: %v", config.Key, err)
	}
	if root, err := nc.PathOnNode("local-path", "any-node", "", "uid"); err != nil || root != "/var/lib/coracle/storage" {
		t.Errorf("storage root of a node not listed: %q, %v; want /var/lib/coracle/storage", root, err)
	}

	class := addontest.Only[*storagev1.StorageClass](t, objs)
	if class.Name != "local-path" || class.Provisioner != cfg.ProvisionerName || class.Provisioner != "rancher.io/local-path" ||
		class.Annotations["storageclass.kubernetes.io/is-default-class"] != "true" {
		t.Errorf("storage class %s: provisioner %q, annotations %v", class.Name, class.Provisioner, class.Annotations)
	}
	if class.VolumeBindingMode == nil || *class.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer ||
		class.ReclaimPolicy == nil || *class.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		class.AllowVolumeExpansion == nil || !*class.AllowVolumeExpansion {
		t.Errorf("storage class: binding %v, reclaim %v, expansion %v; want WaitForFirstConsumer, Delete, true",
			class.VolumeBindingMode, class.ReclaimPolicy, class.AllowVolumeExpansion)
	}

	sa := addontest.Only[*corev1.ServiceAccount](t, objs)
	if pod.ServiceAccountName != sa.Name || cfg.ServiceAccount != sa.Name {
		t.Errorf("pods run as %q, helper pods as %q; the ServiceAccount is %q", pod.ServiceAccountName, cfg.ServiceAccount, sa.Name)
	}
	clusterRole, clusterBinding := addontest.Only[*rbacv1.ClusterRole](t, objs), addontest.Only[*rbacv1.ClusterRoleBinding](t, objs)
	role, binding := addontest.Only[*rbacv1.Role](t, objs), addontest.Only[*rbacv1.RoleBinding](t, objs)
	for _, b := range []struct {
		ref      rbacv1.RoleRef
		subjects []rbacv1.Subject
		role     string
		kind     string
	}{
		{clusterBinding.RoleRef, clusterBinding.Subjects, clusterRole.Name, "ClusterRole"},
		{binding.RoleRef, binding.Subjects, role.Name, "Role"},
	} {
		if b.ref.Kind != b.kind || b.ref.Name != b.role || len(b.subjects) != 1 ||
			b.subjects[0].Name != sa.Name || b.subjects[0].Namespace != sa.Namespace {
			t.Errorf("binding to %s %s does not bind it to %s/%s: %+v %+v", b.kind, b.role, sa.Namespace, sa.Name, b.ref, b.subjects)
		}
	}
	if role.Namespace != cfg.Namespace {
		t.Errorf("the Role is in %s; helper pods and the ConfigMap are in %s", role.Namespace, cfg.Namespace)
	}
	// What the provisioner calls: informers list and watch; the
	// controller and the helper runner write.
	for _, need := range []struct{ group, resource, verb string }{
		{"", "persistentvolumeclaims", "list"}, {"", "persistentvolumeclaims", "watch"},
		{"", "persistentvolumeclaims", "get"}, {"", "persistentvolumeclaims", "update"},
		{"", "persistentvolumeclaims/status", "update"},
		{"", "persistentvolumes", "list"}, {"", "persistentvolumes", "watch"},
		{"", "persistentvolumes", "create"}, {"", "persistentvolumes", "update"}, {"", "persistentvolumes", "delete"},
		{"", "nodes", "list"}, {"", "nodes", "watch"},
		{"storage.k8s.io", "storageclasses", "list"}, {"storage.k8s.io", "storageclasses", "watch"},
		{"", "events", "create"}, {"", "events", "patch"},
	} {
		if !allows(clusterRole.Rules, need.group, need.resource, need.verb) {
			t.Errorf("the ClusterRole does not allow %s %s.%s", need.verb, need.resource, need.group)
		}
	}
	for _, need := range []struct{ group, resource, verb string }{
		{"", "pods", "list"}, {"", "pods", "watch"}, {"", "pods", "get"}, {"", "pods", "create"}, {"", "pods", "delete"},
		{"", "pods/log", "get"},
		{"", "configmaps", "list"}, {"", "configmaps", "watch"},
	} {
		if !allows(role.Rules, need.group, need.resource, need.verb) {
			t.Errorf("the Role does not allow %s %s.%s", need.verb, need.resource, need.group)
		}
	}
	// Least privilege: nothing cluster-wide on pods or ConfigMaps.
	for _, r := range []string{"pods", "configmaps", "secrets"} {
		for _, v := range []string{"get", "list", "create", "delete"} {
			if allows(clusterRole.Rules, "", r, v) {
				t.Errorf("the ClusterRole allows %s %s in every namespace", v, r)
			}
		}
	}
}

func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}
