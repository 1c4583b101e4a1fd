package rbac

import (
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
)

// Policy is a set of RBAC objects the apiserver makes sure exist.
type Policy struct {
	ClusterRoles        []rbacv1.ClusterRole
	ClusterRoleBindings []rbacv1.ClusterRoleBinding
	// Roles and RoleBindings carry their namespaces.
	Roles        []rbacv1.Role
	RoleBindings []rbacv1.RoleBinding
}

// Bootstrap is Kubernetes' default policy (plugin/pkg/auth/authorizer/
// rbac/bootstrappolicy) as v1.37 writes it with its default feature
// gates: the cluster roles and their bindings, the controllers' roles and
// bindings, and the roles of kube-system and kube-public. Rules naming
// API groups Coracle does not serve are kept as upstream has them, so
// that the policy reads the same as on any cluster. Every object is
// labelled kubernetes.io/bootstrapping=rbac-defaults and annotated
// rbac.authorization.kubernetes.io/autoupdate=true, which lets
// reconciliation add to it at each start until a user sets "false".
func Bootstrap() Policy {
	return Policy{
		ClusterRoles:        append(ClusterRoles(), ControllerRoles()...),
		ClusterRoleBindings: append(ClusterRoleBindings(), ControllerRoleBindings()...),
		Roles:               NamespaceRoles(),
		RoleBindings:        NamespaceRoleBindings(),
	}
}

// Names and groups the default policy binds.
const (
	kubeSystem = metav1.NamespaceSystem
	kubePublic = metav1.NamespacePublic

	nodesGroup      = "system:nodes"
	monitoringGroup = "system:monitoring"

	bootstrappersGroup = "system:bootstrappers"

	kubeProxyUser         = "system:kube-proxy"
	kubeControllerManager = "system:kube-controller-manager"
	kubeScheduler         = "system:kube-scheduler"

	// controllerRolePrefix names the role of each controller of the
	// controller-manager; each is bound to the kube-system service account
	// named for the controller.
	controllerRolePrefix = "system:controller:"

	aggregateToAdmin = "rbac.authorization.k8s.io/aggregate-to-admin"
	aggregateToEdit  = "rbac.authorization.k8s.io/aggregate-to-edit"
	aggregateToView  = "rbac.authorization.k8s.io/aggregate-to-view"
)

// bootstrapLabels and bootstrapAnnotations mark the default policy.
var (
	bootstrapLabels      = map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"}
	bootstrapAnnotations = map[string]string{rbacv1.AutoUpdateAnnotationKey: "true"}
)

// bootstrapMeta is the metadata of a default object named name, with
// extra labels on top of the bootstrapping one.
func bootstrapMeta(name, namespace string, extra map[string]string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{}, Annotations: map[string]string{}}
	for k, v := range extra {
		m.Labels[k] = v
	}
	for k, v := range bootstrapLabels {
		m.Labels[k] = v
	}
	for k, v := range bootstrapAnnotations {
		m.Annotations[k] = v
	}
	return m
}

func clusterRole(name string, rules ...rbacv1.PolicyRule) rbacv1.ClusterRole {
	return rbacv1.ClusterRole{ObjectMeta: bootstrapMeta(name, "", nil), Rules: rules}
}

// aggregatedRole is one of admin, edit and view: it gathers the rules of
// the ClusterRoles labelled from (and may itself be labelled to be
// gathered by a wider role).
func aggregatedRole(name, from string, labels map[string]string) rbacv1.ClusterRole {
	return rbacv1.ClusterRole{
		ObjectMeta: bootstrapMeta(name, "", labels),
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
			{MatchLabels: map[string]string{from: "true"}},
		}},
	}
}

// subject lists for the binding helpers.
func groups(names ...string) []rbacv1.Subject {
	var out []rbacv1.Subject
	for _, n := range names {
		out = append(out, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: n})
	}
	return out
}

func users(names ...string) []rbacv1.Subject {
	var out []rbacv1.Subject
	for _, n := range names {
		out = append(out, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: n})
	}
	return out
}

func serviceAccounts(namespace string, names ...string) []rbacv1.Subject {
	var out []rbacv1.Subject
	for _, n := range names {
		out = append(out, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: n})
	}
	return out
}

// clusterBinding binds the ClusterRole of the same name.
func clusterBinding(role string, subjects ...[]rbacv1.Subject) rbacv1.ClusterRoleBinding {
	return rbacv1.ClusterRoleBinding{
		ObjectMeta: bootstrapMeta(role, "", nil),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   concat(subjects),
	}
}

// roleBinding binds the Role role of namespace, under the binding name
// name.
func roleBinding(namespace, name, role string, subjects ...[]rbacv1.Subject) rbacv1.RoleBinding {
	return rbacv1.RoleBinding{
		ObjectMeta: bootstrapMeta(name, namespace, nil),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role},
		Subjects:   concat(subjects),
	}
}

func concat(lists [][]rbacv1.Subject) []rbacv1.Subject {
	var out []rbacv1.Subject
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// eventsRule lets a component record events, in either events API.
func eventsRule() rbacv1.PolicyRule {
	return newRule("create", "update", "patch").groups(legacyGroup, eventsGroup).resources("events").rule()
}

func viewRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		newRule(read...).groups(legacyGroup).resources("pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
			"services", "services/status", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "configmaps").rule(),
		newRule(read...).groups(legacyGroup).resources("limitranges", "resourcequotas", "bindings",
			"pods/status", "resourcequotas/status", "namespaces/status", "replicationcontrollers/status", "pods/log").rule(),
		// Reading namespaces at the namespace scope reads the namespace
		// itself: a sign of which namespaces one has access to.
		newRule(read...).groups(legacyGroup).resources("namespaces").rule(),
		newRule(read...).groups(legacyGroup, eventsGroup).resources("events").rule(),
		newRule(read...).groups(discoveryGroup).resources("endpointslices").rule(),
		newRule(read...).groups(appsGroup).resources(
			"controllerrevisions",
			"statefulsets", "statefulsets/status", "statefulsets/scale",
			"daemonsets", "daemonsets/status",
			"deployments", "deployments/status", "deployments/scale",
			"replicasets", "replicasets/status", "replicasets/scale").rule(),
		newRule(read...).groups(autoscalingGroup).resources("horizontalpodautoscalers", "horizontalpodautoscalers/status").rule(),
		newRule(read...).groups(batchGroup).resources("jobs", "cronjobs", "cronjobs/status", "jobs/status").rule(),
		newRule(read...).groups(extensionsGroup).resources("daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status",
			"ingresses", "ingresses/status", "replicasets", "replicasets/scale", "replicasets/status", "replicationcontrollers/scale",
			"networkpolicies").rule(),
		newRule(read...).groups(policyGroup).resources("poddisruptionbudgets", "poddisruptionbudgets/status").rule(),
		newRule(read...).groups(networkingGroup).resources("networkpolicies", "ingresses", "ingresses/status").rule(),
		newRule(read...).groups(resourceGroup).resources("resourceclaims", "resourceclaims/status", "resourceclaimtemplates").rule(),
	}
}

// editRules may read secrets and run pods, but not change roles or quota,
// nor write any status: those are the system's.
func editRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		newRule(read...).groups(legacyGroup).resources("pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy").rule(),
		newRule("impersonate").groups(legacyGroup).resources("serviceaccounts").rule(),
		newRule(write...).groups(legacyGroup).resources("pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward").rule(),
		newRule("create").groups(legacyGroup).resources("pods/eviction").rule(),
		newRule(write...).groups(legacyGroup).resources("replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
			"services", "services/proxy", "persistentvolumeclaims", "configmaps", "secrets").rule(),
		newRule("create").groups(legacyGroup).resources("serviceaccounts/token").rule(),
		newRule(write...).groups(legacyGroup, eventsGroup).resources("events").rule(),
		newRule(write...).groups(appsGroup).resources(
			"statefulsets", "statefulsets/scale",
			"daemonsets",
			"deployments", "deployments/scale", "deployments/rollback",
			"replicasets", "replicasets/scale").rule(),
		newRule(write...).groups(autoscalingGroup).resources("horizontalpodautoscalers").rule(),
		newRule(write...).groups(batchGroup).resources("jobs", "cronjobs").rule(),
		newRule(write...).groups(extensionsGroup).resources("daemonsets",
			"deployments", "deployments/scale", "deployments/rollback", "ingresses",
			"replicasets", "replicasets/scale", "replicationcontrollers/scale",
			"networkpolicies").rule(),
		newRule(write...).groups(policyGroup).resources("poddisruptionbudgets").rule(),
		newRule(write...).groups(networkingGroup).resources("networkpolicies", "ingresses").rule(),
		newRule(readWrite...).groups(coordinationGroup).resources("leases").rule(),
		newRule(write...).groups(resourceGroup).resources("resourceclaims", "resourceclaimtemplates").rule(),
	}
}

// ClusterRoles are Kubernetes' default ClusterRoles other than the
// controllers'. admin, edit and view come with the rules their
// aggregation gathers from the other default roles, so that they grant
// what they should from the first start, before the aggregation
// controller has run; it recomputes them the same way.
func ClusterRoles() []rbacv1.ClusterRole {
	roles := []rbacv1.ClusterRole{
		// A root role that can do anything.
		clusterRole("cluster-admin",
			newRule("*").groups("*").resources("*").rule(),
			newRule("*").urls("*").rule(),
		),
		// Enough to tell whether the server is ready and to discover the
		// API for negotiation.
		clusterRole("system:discovery",
			newRule("get").urls(
				"/livez", "/readyz", "/healthz",
				"/version", "/version/",
				"/openapi", "/openapi/*",
				"/api", "/api/*",
				"/apis", "/apis/*",
			).rule(),
		),
		// The monitoring endpoints; the per-check health paths may say
		// more about the cluster than the public ones.
		clusterRole("system:monitoring",
			newRule("get").urls(
				"/metrics", "/metrics/slis",
				"/livez", "/readyz", "/healthz",
				"/livez/*", "/readyz/*", "/healthz/*",
				"/flagz", "/statusz",
			).rule(),
			newRule("get").groups(legacyGroup).resources("nodes/metrics").rule(),
		),
		// What a user needs to learn about themselves.
		clusterRole("system:basic-user",
			newRule("create").groups(authorizationGroup).resources("selfsubjectaccessreviews", "selfsubjectrulesreviews").rule(),
			newRule("create").groups(authenticationGroup).resources("selfsubjectreviews").rule(),
		),
		// Cluster information that is not sensitive.
		clusterRole("system:public-info-viewer",
			newRule("get").urls("/livez", "/readyz", "/healthz", "/version", "/version/").rule(),
		),
		// A namespace's admin: edit plus granting permissions to others.
		aggregatedRole("admin", aggregateToAdmin, nil),
		// A namespace's editor: every user-level action, but not the
		// system's powers (status, quota and limits).
		aggregatedRole("edit", aggregateToEdit, map[string]string{aggregateToAdmin: "true"}),
		// A namespace's viewer: reads what does not escalate (no secrets).
		aggregatedRole("view", aggregateToView, map[string]string{aggregateToEdit: "true"}),
		{
			ObjectMeta: bootstrapMeta("system:aggregate-to-admin", "", map[string]string{aggregateToAdmin: "true"}),
			Rules: []rbacv1.PolicyRule{
				newRule("create").groups(authorizationGroup).resources("localsubjectaccessreviews").rule(),
				newRule(readWrite...).groups(rbacGroup).resources("roles", "rolebindings").rule(),
			},
		},
		{
			ObjectMeta: bootstrapMeta("system:aggregate-to-edit", "", map[string]string{aggregateToEdit: "true"}),
			Rules:      editRules(),
		},
		{
			ObjectMeta: bootstrapMeta("system:aggregate-to-view", "", map[string]string{aggregateToView: "true"}),
			Rules:      viewRules(),
		},
		clusterRole("system:heapster",
			newRule(read...).groups(legacyGroup).resources("events", "pods", "nodes", "namespaces").rule(),
			newRule(read...).groups(extensionsGroup).resources("deployments").rule(),
		),
		// What nodes need to run pods; the Node authorizer grants it
		// (NodeRules), the role is for reference and for binding by hand.
		clusterRole("system:node", NodeRules()...),
		clusterRole("system:node-problem-detector",
			newRule("get").groups(legacyGroup).resources("nodes").rule(),
			newRule("patch").groups(legacyGroup).resources("nodes/status").rule(),
			eventsRule(),
		),
		// A joining node asks for its client certificate with it.
		clusterRole("system:node-bootstrapper",
			newRule("create", "get", "list", "watch").groups(certificatesGroup).resources("certificatesigningrequests").rule(),
		),
		// Delegated authentication and authorization.
		clusterRole("system:auth-delegator",
			newRule("create").groups(authenticationGroup).resources("tokenreviews").rule(),
			newRule("create").groups(authorizationGroup).resources("subjectaccessreviews").rule(),
		),
		clusterRole("system:kube-aggregator",
			newRule(read...).groups(legacyGroup).resources("services", "endpoints").rule(),
		),
		// The controller-manager's own credential: enough to start its
		// informers and make the service accounts its controllers run as.
		clusterRole("system:kube-controller-manager",
			eventsRule(),
			newRule("create").groups(coordinationGroup).resources("leases").rule(),
			newRule("get", "update").groups(coordinationGroup).resources("leases").names("kube-controller-manager").rule(),
			newRule("create").groups(legacyGroup).resources("secrets", "serviceaccounts").rule(),
			newRule("delete").groups(legacyGroup).resources("secrets").rule(),
			newRule("get").groups(legacyGroup).resources("namespaces", "secrets", "serviceaccounts", "configmaps").rule(),
			newRule("update").groups(legacyGroup).resources("secrets", "serviceaccounts").rule(),
			newRule("create").groups(authenticationGroup).resources("tokenreviews").rule(),
			newRule("create").groups(authorizationGroup).resources("subjectaccessreviews").rule(),
			newRule("list", "watch").groups("*").resources("*").rule(),
			newRule("create").groups(legacyGroup).resources("serviceaccounts/token").rule(),
		),
		clusterRole("system:kube-dns",
			newRule("list", "watch").groups(legacyGroup).resources("endpoints", "services").rule(),
		),
		clusterRole("system:persistent-volume-provisioner",
			newRule("get", "list", "watch", "create", "delete").groups(legacyGroup).resources("persistentvolumes").rule(),
			newRule("get", "list", "watch", "update").groups(legacyGroup).resources("persistentvolumeclaims").rule(),
			newRule(read...).groups(storageGroup).resources("storageclasses").rule(),
			newRule("watch").groups(legacyGroup).resources("events").rule(),
			eventsRule(),
		),
		// The CSR approver approves a node client certificate for whoever
		// may create these subresources.
		clusterRole("system:certificates.k8s.io:certificatesigningrequests:nodeclient",
			newRule("create").groups(certificatesGroup).resources("certificatesigningrequests/nodeclient").rule(),
		),
		clusterRole("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
			newRule("create").groups(certificatesGroup).resources("certificatesigningrequests/selfnodeclient").rule(),
		),
		clusterRole("system:volume-scheduler",
			newRule("get", "list", "watch", "update", "patch").groups(legacyGroup).resources("persistentvolumes").rule(),
			newRule(read...).groups(storageGroup).resources("storageclasses").rule(),
			newRule("get", "list", "watch", "update", "patch").groups(legacyGroup).resources("persistentvolumeclaims").rule(),
		),
		clusterRole("system:certificates.k8s.io:legacy-unknown-approver",
			newRule("approve").groups(certificatesGroup).resources("signers").names(legacyUnknownSignerName).rule(),
		),
		clusterRole("system:certificates.k8s.io:kubelet-serving-approver",
			newRule("approve").groups(certificatesGroup).resources("signers").names(certificatesv1.KubeletServingSignerName).rule(),
		),
		clusterRole("system:certificates.k8s.io:kube-apiserver-client-approver",
			newRule("approve").groups(certificatesGroup).resources("signers").names(certificatesv1.KubeAPIServerClientSignerName).rule(),
		),
		clusterRole("system:certificates.k8s.io:kube-apiserver-client-kubelet-approver",
			newRule("approve").groups(certificatesGroup).resources("signers").names(certificatesv1.KubeAPIServerClientKubeletSignerName).rule(),
		),
		// The service account issuer's discovery documents; the slash-ended
		// paths serve clients generated from an old OpenAPI document.
		clusterRole("system:service-account-issuer-discovery",
			newRule("get").urls(
				"/.well-known/openid-configuration",
				"/.well-known/openid-configuration/",
				"/openid/v1/jwks",
				"/openid/v1/jwks/",
			).rule(),
		),
		// Full access to the kubelet's API.
		clusterRole("system:kubelet-api-admin",
			newRule("get", "list", "watch").groups(legacyGroup).resources("nodes").rule(),
			newRule("proxy").groups(legacyGroup).resources("nodes").rule(),
			newRule("*").groups(legacyGroup).resources("nodes/proxy", "nodes/metrics", "nodes/stats", "nodes/log").rule(),
			newRule("*").groups(legacyGroup).resources("nodes/pods", "nodes/healthz", "nodes/configz").rule(),
		),
		// kube-proxy's.
		clusterRole("system:node-proxier",
			newRule("list", "watch").groups(legacyGroup).resources("services", "endpoints").rule(),
			newRule("get", "list", "watch").groups(legacyGroup).resources("nodes").rule(),
			eventsRule(),
			newRule("list", "watch").groups(networkingGroup).resources("servicecidrs").rule(),
			newRule("list", "watch").groups(discoveryGroup).resources("endpointslices").rule(),
		),
		clusterRole("system:kube-scheduler", kubeSchedulerRules()...),
		clusterRole("system:cluster-trust-bundle-discovery",
			newRule(read...).groups(certificatesGroup).resources("clustertrustbundles").rule(),
		),
	}
	fillAggregatedRules(roles)
	return roles
}

// legacyUnknownSignerName is the signer certificates.k8s.io/v1beta1
// defaulted to.
const legacyUnknownSignerName = "kubernetes.io/legacy-unknown"

func kubeSchedulerRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		eventsRule(),
		// Leader election.
		newRule("create").groups(coordinationGroup).resources("leases").rule(),
		newRule("get", "update", "list", "watch").groups(coordinationGroup).resources("leases").names("kube-scheduler").rule(),
		newRule(readWrite...).groups(coordinationGroup).resources("leasecandidates").rule(),
		// What it schedules, and onto what.
		newRule(read...).groups(legacyGroup).resources("nodes").rule(),
		newRule("get", "list", "watch", "delete").groups(legacyGroup).resources("pods").rule(),
		newRule("create").groups(legacyGroup).resources("pods/binding", "bindings").rule(),
		newRule("patch", "update").groups(legacyGroup).resources("pods/status").rule(),
		// What selects pods, for spreading.
		newRule(read...).groups(legacyGroup).resources("services", "replicationcontrollers").rule(),
		newRule(read...).groups(appsGroup, extensionsGroup).resources("replicasets").rule(),
		newRule(read...).groups(appsGroup).resources("statefulsets").rule(),
		// What pods use or is applied to them.
		newRule(read...).groups(policyGroup).resources("poddisruptionbudgets").rule(),
		newRule(read...).groups(legacyGroup).resources("persistentvolumeclaims", "persistentvolumes").rule(),
		newRule("create").groups(authenticationGroup).resources("tokenreviews").rule(),
		newRule("create").groups(authorizationGroup).resources("subjectaccessreviews").rule(),
		newRule(read...).groups(storageGroup).resources("csinodes").rule(),
		newRule("get", "list", "watch").groups(storageGroup).resources("volumeattachments").rule(),
		newRule(read...).groups(legacyGroup).resources("namespaces").rule(),
		newRule(read...).groups(storageGroup).resources("csidrivers").rule(),
		newRule(read...).groups(storageGroup).resources("csistoragecapacities").rule(),
		// Dynamic resource allocation.
		newRule(read...).groups(resourceGroup).resources("deviceclasses").rule(),
		newRule("get", "list", "watch", "update", "patch").groups(resourceGroup).resources("resourceclaims").rule(),
		newRule("get", "list", "watch", "update", "patch").groups(resourceGroup).resources("resourceclaims/status").rule(),
		newRule("update").groups(legacyGroup).resources("pods/finalizers").rule(),
		newRule(read...).groups(resourceGroup).resources("resourceslices").rule(),
		newRule("create", "delete").groups(resourceGroup).resources("resourceclaims").rule(),
		newRule(read...).groups(resourceGroup).resources("devicetaintrules").rule(),
		newRule("update", "patch").groups(resourceGroup).resources("resourceclaims/binding").rule(),
	}
}

// fillAggregatedRules sets the rules of each role with an aggregationRule
// as Kubernetes' clusterrole-aggregation controller would: the rules of
// every other role its selectors match, roles taken in name order, each
// rule once. Aggregated roles may gather each other (view into edit,
// edit into admin), so it repeats until nothing changes.
func fillAggregatedRules(roles []rbacv1.ClusterRole) {
	for changed := true; changed; {
		changed = false
		for i := range roles {
			r := &roles[i]
			if r.AggregationRule == nil {
				continue
			}
			rules := aggregate(r, roles)
			if !rulesEqual(rules, r.Rules) {
				r.Rules, changed = rules, true
			}
		}
	}
}

func aggregate(r *rbacv1.ClusterRole, roles []rbacv1.ClusterRole) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	byName := make([]*rbacv1.ClusterRole, 0, len(roles))
	for i := range roles {
		byName = append(byName, &roles[i])
	}
	sortByName(byName)
	for _, s := range r.AggregationRule.ClusterRoleSelectors {
		sel, err := metav1.LabelSelectorAsSelector(&s)
		if err != nil {
			continue
		}
		for _, other := range byName {
			if other.Name == r.Name || !sel.Matches(labels.Set(other.Labels)) {
				continue
			}
			for _, rule := range other.Rules {
				if !containsRule(out, rule) {
					out = append(out, rule)
				}
			}
		}
	}
	return out
}

func sortByName(roles []*rbacv1.ClusterRole) {
	slices.SortFunc(roles, func(a, b *rbacv1.ClusterRole) int { return strings.Compare(a.Name, b.Name) })
}

func containsRule(rules []rbacv1.PolicyRule, r rbacv1.PolicyRule) bool {
	for _, have := range rules {
		if equality.Semantic.DeepEqual(have, r) {
			return true
		}
	}
	return false
}

func rulesEqual(a, b []rbacv1.PolicyRule) bool {
	return len(a) == len(b) && (len(a) == 0 || equality.Semantic.DeepEqual(a, b))
}

// ClusterRoleBindings are Kubernetes' default ClusterRoleBindings other
// than the controllers'.
func ClusterRoleBindings() []rbacv1.ClusterRoleBinding {
	return []rbacv1.ClusterRoleBinding{
		clusterBinding("cluster-admin", groups(authz.SystemPrivilegedGroup)),
		clusterBinding("system:monitoring", groups(monitoringGroup)),
		clusterBinding("system:discovery", groups(authn.AllAuthenticated)),
		clusterBinding("system:basic-user", groups(authn.AllAuthenticated)),
		clusterBinding("system:public-info-viewer", groups(authn.AllAuthenticated, authn.AllUnauthenticated)),
		clusterBinding("system:node-proxier", users(kubeProxyUser)),
		clusterBinding("system:kube-controller-manager", users(kubeControllerManager)),
		clusterBinding("system:kube-dns", serviceAccounts(kubeSystem, "kube-dns")),
		clusterBinding("system:kube-scheduler", users(kubeScheduler)),
		clusterBinding("system:volume-scheduler", users(kubeScheduler)),
		// Nodes are authorized by the Node authorizer since Kubernetes
		// 1.7; the binding stays, without subjects.
		clusterBinding("system:node"),
		clusterBinding("system:service-account-issuer-discovery", groups(authn.AllServiceAccountsGroup)),
		clusterBinding("system:cluster-trust-bundle-discovery", groups(authn.AllServiceAccountsGroup)),
	}
}

// NamespaceRoles are Kubernetes' default Roles of kube-system and
// kube-public.
func NamespaceRoles() []rbacv1.Role {
	role := func(namespace, name string, rules ...rbacv1.PolicyRule) rbacv1.Role {
		return rbacv1.Role{ObjectMeta: bootstrapMeta(name, namespace, nil), Rules: rules}
	}
	leaderLocking := []rbacv1.PolicyRule{
		newRule("get", "watch", "list", "create", "update").groups(coordinationGroup).resources("leases").rule(),
		newRule("get", "watch", "list", "create", "update").groups(coordinationGroup).resources("leasecandidates").rule(),
	}
	return []rbacv1.Role{
		// The configmap that tells extension apiservers how to
		// authenticate their callers.
		role(kubeSystem, "extension-apiserver-authentication-reader",
			newRule("get", "list", "watch").groups(legacyGroup).resources("configmaps").names("extension-apiserver-authentication").rule(),
		),
		// The bootstrap signer reads the bootstrap token secrets.
		role(kubeSystem, controllerRolePrefix+"bootstrap-signer",
			newRule("get", "list", "watch").groups(legacyGroup).resources("secrets").rule(),
		),
		role(kubeSystem, controllerRolePrefix+"cloud-provider",
			newRule("create", "get", "list", "watch").groups(legacyGroup).resources("configmaps").rule(),
		),
		// The token cleaner deletes expired bootstrap tokens.
		role(kubeSystem, controllerRolePrefix+"token-cleaner",
			newRule("get", "list", "watch", "delete").groups(legacyGroup).resources("secrets").rule(),
			eventsRule(),
		),
		role(kubeSystem, "system::leader-locking-kube-controller-manager", leaderLocking...),
		role(kubeSystem, "system::leader-locking-kube-scheduler", leaderLocking...),
		// The bootstrap signer signs kube-public/cluster-info.
		role(kubePublic, controllerRolePrefix+"bootstrap-signer",
			newRule("get", "list", "watch").groups(legacyGroup).resources("configmaps").rule(),
			newRule("update").groups(legacyGroup).resources("configmaps").names("cluster-info").rule(),
			eventsRule(),
		),
	}
}

// NamespaceRoleBindings bind NamespaceRoles.
func NamespaceRoleBindings() []rbacv1.RoleBinding {
	return []rbacv1.RoleBinding{
		roleBinding(kubeSystem, "system::extension-apiserver-authentication-reader", "extension-apiserver-authentication-reader",
			users(kubeControllerManager, kubeScheduler)),
		roleBinding(kubeSystem, "system::leader-locking-kube-controller-manager", "system::leader-locking-kube-controller-manager",
			users(kubeControllerManager), serviceAccounts(kubeSystem, "kube-controller-manager", "leader-election-controller")),
		roleBinding(kubeSystem, "system::leader-locking-kube-scheduler", "system::leader-locking-kube-scheduler",
			users(kubeScheduler), serviceAccounts(kubeSystem, "kube-scheduler")),
		roleBinding(kubeSystem, controllerRolePrefix+"bootstrap-signer", controllerRolePrefix+"bootstrap-signer",
			serviceAccounts(kubeSystem, "bootstrap-signer")),
		roleBinding(kubeSystem, controllerRolePrefix+"cloud-provider", controllerRolePrefix+"cloud-provider",
			serviceAccounts(kubeSystem, "cloud-provider")),
		roleBinding(kubeSystem, controllerRolePrefix+"token-cleaner", controllerRolePrefix+"token-cleaner",
			serviceAccounts(kubeSystem, "token-cleaner")),
		roleBinding(kubePublic, controllerRolePrefix+"bootstrap-signer", controllerRolePrefix+"bootstrap-signer",
			serviceAccounts(kubeSystem, "bootstrap-signer")),
	}
}

// ClusterSetup is what `kubeadm init` adds to the default policy, which
// Coracle clusters need because nodes join as kubeadm's do: with a
// bootstrap token (group system:bootstrappers) that may ask for a client
// certificate, have it approved and read the Nodes, and an anonymous
// cluster-info read to check the control plane against the token. Two
// bindings are Coracle's own: kube-proxy on a joined node runs with the
// node's credential, so system:nodes get system:node-proxier, and
// coracle:service-lb, the right of kube-proxy's built-in service load
// balancer (as k3s's ServiceLB) to write LoadBalancer Services' status.
//
// These objects are not labelled as Kubernetes' defaults, as kubeadm's
// are not; without the autoupdate annotation reconciliation still adds
// what is missing, and a user opts out by annotating "false".
func ClusterSetup() Policy {
	binding := func(name, role string, subjects []rbacv1.Subject) rbacv1.ClusterRoleBinding {
		return rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   subjects,
		}
	}
	const clusterInfoRole = "kubeadm:bootstrap-signer-clusterinfo"
	return Policy{
		ClusterRoles: []rbacv1.ClusterRole{{
			ObjectMeta: metav1.ObjectMeta{Name: "kubeadm:get-nodes"},
			Rules:      []rbacv1.PolicyRule{newRule("get").groups(legacyGroup).resources("nodes").rule()},
		}, {
			ObjectMeta: metav1.ObjectMeta{Name: "coracle:service-lb"},
			Rules:      []rbacv1.PolicyRule{newRule("update", "patch").groups(legacyGroup).resources("services/status").rule()},
		}},
		ClusterRoleBindings: []rbacv1.ClusterRoleBinding{
			binding("kubeadm:kubelet-bootstrap", "system:node-bootstrapper", groups(bootstrappersGroup)),
			binding("kubeadm:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient", groups(bootstrappersGroup)),
			binding("kubeadm:node-autoapprove-certificate-rotation", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", groups(nodesGroup)),
			binding("kubeadm:get-nodes", "kubeadm:get-nodes", groups(bootstrappersGroup)),
			binding("coracle:node-proxier", "system:node-proxier", groups(nodesGroup)),
			binding("coracle:service-lb", "coracle:service-lb", groups(nodesGroup)),
		},
		Roles: []rbacv1.Role{{
			ObjectMeta: metav1.ObjectMeta{Name: clusterInfoRole, Namespace: kubePublic},
			Rules:      []rbacv1.PolicyRule{newRule("get").groups(legacyGroup).resources("configmaps").names("cluster-info").rule()},
		}},
		RoleBindings: []rbacv1.RoleBinding{{
			ObjectMeta: metav1.ObjectMeta{Name: clusterInfoRole, Namespace: kubePublic},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: clusterInfoRole},
			Subjects:   users(authn.Anonymous),
		}},
	}
}
