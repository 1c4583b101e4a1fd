package audit

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
)

const testPolicy = `
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
omitManagedFields: true
rules:
- level: None
  users: ["system:kube-proxy"]
  verbs: [watch]
  resources: [{group: "", resources: [endpoints, services]}]
- level: None
  nonResourceURLs: [/healthz*, /readyz, /livez]
- level: RequestResponse
  userGroups: ["system:nodes"]
  resources: [{group: "", resources: ["pods/log", "*/status"]}]
- level: Request
  resources: [{group: "apps", resources: ["deployments/*"]}]
- level: Metadata
  resources: [{group: "", resources: [configmaps], resourceNames: [controller-leader]}]
  omitManagedFields: false
- level: Request
  namespaces: [kube-system]
- level: RequestResponse
  resources: [{group: "*", resources: ["*/scale"]}]
- level: Metadata
  omitStages: [ResponseStarted]
`

func mustPolicy(t *testing.T, yaml string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func res(user *authn.User, verb, group, resource, sub, ns, name string) authz.Attributes {
	return authz.Attributes{User: user, Verb: verb, ResourceRequest: true, APIGroup: group, APIVersion: "v1",
		Resource: resource, Subresource: sub, Namespace: ns, Name: name}
}

func path(user *authn.User, p string) authz.Attributes {
	return authz.Attributes{User: user, Verb: "get", Path: p}
}

func TestPolicyEvaluate(t *testing.T) {
	p := mustPolicy(t, testPolicy)
	proxy := &authn.User{Name: "system:kube-proxy"}
	node := &authn.User{Name: "system:node:a", Groups: []string{"system:nodes", "system:authenticated"}}
	alice := &authn.User{Name: "alice", Groups: []string{"system:authenticated"}}
	tests := []struct {
		name              string
		attrs             authz.Attributes
		level             auditv1.Level
		omitManagedFields bool
	}{
		{"kube-proxy watching endpoints", res(proxy, "watch", "", "endpoints", "", "", ""), auditv1.LevelNone, true},
		{"kube-proxy listing endpoints falls through", res(proxy, "list", "", "endpoints", "", "", ""), auditv1.LevelMetadata, true},
		{"someone else watching endpoints", res(alice, "watch", "", "endpoints", "", "", ""), auditv1.LevelMetadata, true},
		{"healthz prefix", path(alice, "/healthz/etcd"), auditv1.LevelNone, true},
		{"readyz exact", path(nil, "/readyz"), auditv1.LevelNone, true},
		{"readyz is not a prefix rule", path(nil, "/readyz/verbose"), auditv1.LevelMetadata, true},
		{"node reading pod logs", res(node, "get", "", "pods", "log", "default", "web"), auditv1.LevelRequestResponse, true},
		{"node writing pod status", res(node, "update", "", "pods", "status", "default", "web"), auditv1.LevelRequestResponse, true},
		{"node reading a pod is no subresource", res(node, "get", "", "pods", "", "default", "web"), auditv1.LevelMetadata, true},
		{"user reading pod logs", res(alice, "get", "", "pods", "log", "default", "web"), auditv1.LevelMetadata, true},
		{"deployments/* matches a subresource", res(alice, "update", "apps", "deployments", "scale", "default", "d"), auditv1.LevelRequest, true},
		{"deployments/* matches the resource", res(alice, "get", "apps", "deployments", "", "default", "d"), auditv1.LevelRequest, true},
		{"deployments in another group", res(alice, "get", "extensions", "deployments", "", "default", "d"), auditv1.LevelMetadata, true},
		{"resourceNames matches its name", res(alice, "update", "", "configmaps", "", "kube-system", "controller-leader"), auditv1.LevelMetadata, false},
		{"resourceNames: another name falls to the namespace rule", res(alice, "update", "", "configmaps", "", "kube-system", "other"), auditv1.LevelRequest, true},
		{"namespace rule skips non-resource requests", path(alice, "/api"), auditv1.LevelMetadata, true},
		{"*/scale in any group", res(alice, "update", "apps", "replicasets", "scale", "default", "r"), auditv1.LevelRequestResponse, true},
		{"cluster-scoped resource", res(alice, "get", "", "nodes", "", "", "n"), auditv1.LevelMetadata, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Evaluate(tt.attrs)
			if got.Level != tt.level || got.OmitManagedFields != tt.omitManagedFields {
				t.Fatalf("level %s omitManagedFields %v, want %s %v", got.Level, got.OmitManagedFields, tt.level, tt.omitManagedFields)
			}
		})
	}
	last := p.Evaluate(path(alice, "/version"))
	if !slices.Contains(last.OmitStages, auditv1.StageRequestReceived) || !slices.Contains(last.OmitStages, auditv1.StageResponseStarted) {
		t.Errorf("a rule's omitStages %v lack the policy's", last.OmitStages)
	}
}

func TestPolicyWithoutMatchIsNone(t *testing.T) {
	p := mustPolicy(t, `
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: Metadata
  users: [alice]
`)
	if got := p.Evaluate(res(&authn.User{Name: "bob"}, "get", "", "pods", "", "ns", "p")); got.Level != auditv1.LevelNone {
		t.Fatalf("level %s, want None", got.Level)
	}
	if got := p.Evaluate(res(nil, "get", "", "pods", "", "ns", "p")); got.Level != auditv1.LevelNone {
		t.Fatalf("anonymous level %s, want None", got.Level)
	}
}

func TestParsePolicyErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field with its path", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  user: [a]\n", `unknown field "rules[0].user"`},
		{"wrong version", "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: None\n", `apiVersion "audit.k8s.io/v1beta1"`},
		{"no kind", "apiVersion: audit.k8s.io/v1\nrules:\n- level: None\n", `kind ""`},
		{"bad level", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Everything\n", `rules[0].level: Unsupported value: "Everything"`},
		{"no level", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- users: [a]\n", `rules[0].level: Required value`},
		{"bad stage", "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [Never]\nrules:\n- level: None\n", `omitStages[0]: Invalid value: "Never"`},
		{"resources with URLs", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  nonResourceURLs: [/x]\n  namespaces: [a]\n", "rules cannot apply to both regular resources and non-resource URLs"},
		{"star inside a URL", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  nonResourceURLs: [/a*/b]\n", "non-resource URL wildcards '*' must be the final character of the rule"},
		{"no rules", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n", "loaded illegal policy with 0 rules"},
		{"not YAML", "apiVersion: [", "failed decoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadPolicyNamesTheFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(f, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- levl: None\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadPolicy(f)
	if err == nil || !strings.Contains(err.Error(), f) || !strings.Contains(err.Error(), `"rules[0].levl"`) {
		t.Fatalf("error %v", err)
	}
}

// TestDefaultPolicy loads the policy make up installs and checks the
// levels it promises.
func TestDefaultPolicy(t *testing.T) {
	p, err := LoadPolicy(filepath.Join("..", "..", "..", "deploy", "config", "audit-policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	proxy := &authn.User{Name: "system:kube-proxy", Groups: []string{"system:authenticated"}}
	alice := &authn.User{Name: "alice", Groups: []string{"system:authenticated"}}
	tests := []struct {
		name  string
		attrs authz.Attributes
		level auditv1.Level
	}{
		{"healthz", path(nil, "/healthz"), auditv1.LevelNone},
		{"readyz", path(alice, "/readyz"), auditv1.LevelNone},
		{"livez", path(alice, "/livez"), auditv1.LevelNone},
		{"kube-proxy watching endpoints", res(proxy, "watch", "", "endpoints", "", "", ""), auditv1.LevelNone},
		{"kube-proxy watching endpointslices", res(proxy, "watch", "discovery.k8s.io", "endpointslices", "", "", ""), auditv1.LevelNone},
		{"kube-proxy watching services", res(proxy, "watch", "", "services", "", "", ""), auditv1.LevelNone},
		{"creating a secret", res(alice, "create", "", "secrets", "", "default", ""), auditv1.LevelMetadata},
		{"reading a secret", res(alice, "get", "", "secrets", "", "default", "s"), auditv1.LevelMetadata},
		{"updating a configmap", res(alice, "update", "", "configmaps", "", "default", "c"), auditv1.LevelMetadata},
		{"token review", res(alice, "create", "authentication.k8s.io", "tokenreviews", "", "", ""), auditv1.LevelMetadata},
		{"token request", res(alice, "create", "", "serviceaccounts", "token", "default", "sa"), auditv1.LevelMetadata},
		{"creating a deployment", res(alice, "create", "apps", "deployments", "", "default", ""), auditv1.LevelRequest},
		{"patching a pod", res(alice, "patch", "", "pods", "", "default", "p"), auditv1.LevelRequest},
		{"deleting a pod", res(alice, "delete", "", "pods", "", "default", "p"), auditv1.LevelRequest},
		{"reading pods", res(alice, "list", "", "pods", "", "default", ""), auditv1.LevelMetadata},
		{"discovery", path(alice, "/apis"), auditv1.LevelMetadata},
		{"exec", res(alice, "create", "", "pods", "exec", "default", "p"), auditv1.LevelRequest},
		{"reading logs", res(alice, "get", "", "pods", "log", "default", "p"), auditv1.LevelMetadata},
	}
	for _, tt := range tests {
		if got := p.Evaluate(tt.attrs).Level; got != tt.level {
			t.Errorf("%s: level %s, want %s", tt.name, got, tt.level)
		}
	}
}
