package envvars

import (
	"context"
	"errors"
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

func service(ns, name, ip string, ports ...v1.ServicePort) *v1.Service {
	return &v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1.ServiceSpec{ClusterIP: ip, Ports: ports}}
}

func port(name string, p int32, proto v1.Protocol) v1.ServicePort {
	return v1.ServicePort{Name: name, Port: p, Protocol: proto}
}

// TestFromServices checks the names and values against Kubernetes' own
// examples (pkg/kubelet/envvars).
func TestFromServices(t *testing.T) {
	got := FromServices([]*v1.Service{
		service("", "foo-bar", "1.2.3.4", port("", 8080, "TCP")),
		service("", "abc-123", "5.6.7.8", port("u-d-p", 8081, "UDP"), port("t-c-p", 8081, "TCP")),
		service("", "q-u-u-x", "9.8.7.6", port("", 8082, "TCP"), port("8083", 8083, "TCP")),
		service("", "svrc-clusterip-none", "None", port("", 8082, "TCP")),
		service("", "svrc-clusterip-empty", "", port("", 8082, "TCP")),
		service("", "super-ipv6", "2001:DB8::", port("u-d-p", 8084, "UDP"), port("t-c-p", 8084, "TCP")),
		service("", "sctp-1", "1.2.3.4", port("", 777, "SCTP")),
		service("", "no-protocol", "1.2.3.5", port("", 80, "")),
		service("", "no-ports", "1.2.3.6"),
	})
	want := []Var{
		{"FOO_BAR_SERVICE_HOST", "1.2.3.4"},
		{"FOO_BAR_SERVICE_PORT", "8080"},
		{"FOO_BAR_PORT", "tcp://1.2.3.4:8080"},
		{"FOO_BAR_PORT_8080_TCP", "tcp://1.2.3.4:8080"},
		{"FOO_BAR_PORT_8080_TCP_PROTO", "tcp"},
		{"FOO_BAR_PORT_8080_TCP_PORT", "8080"},
		{"FOO_BAR_PORT_8080_TCP_ADDR", "1.2.3.4"},
		{"ABC_123_SERVICE_HOST", "5.6.7.8"},
		{"ABC_123_SERVICE_PORT", "8081"},
		{"ABC_123_SERVICE_PORT_U_D_P", "8081"},
		{"ABC_123_SERVICE_PORT_T_C_P", "8081"},
		{"ABC_123_PORT", "udp://5.6.7.8:8081"},
		{"ABC_123_PORT_8081_UDP", "udp://5.6.7.8:8081"},
		{"ABC_123_PORT_8081_UDP_PROTO", "udp"},
		{"ABC_123_PORT_8081_UDP_PORT", "8081"},
		{"ABC_123_PORT_8081_UDP_ADDR", "5.6.7.8"},
		{"ABC_123_PORT_8081_TCP", "tcp://5.6.7.8:8081"},
		{"ABC_123_PORT_8081_TCP_PROTO", "tcp"},
		{"ABC_123_PORT_8081_TCP_PORT", "8081"},
		{"ABC_123_PORT_8081_TCP_ADDR", "5.6.7.8"},
		{"Q_U_U_X_SERVICE_HOST", "9.8.7.6"},
		{"Q_U_U_X_SERVICE_PORT", "8082"},
		{"Q_U_U_X_SERVICE_PORT_8083", "8083"},
		{"Q_U_U_X_PORT", "tcp://9.8.7.6:8082"},
		{"Q_U_U_X_PORT_8082_TCP", "tcp://9.8.7.6:8082"},
		{"Q_U_U_X_PORT_8082_TCP_PROTO", "tcp"},
		{"Q_U_U_X_PORT_8082_TCP_PORT", "8082"},
		{"Q_U_U_X_PORT_8082_TCP_ADDR", "9.8.7.6"},
		{"Q_U_U_X_PORT_8083_TCP", "tcp://9.8.7.6:8083"},
		{"Q_U_U_X_PORT_8083_TCP_PROTO", "tcp"},
		{"Q_U_U_X_PORT_8083_TCP_PORT", "8083"},
		{"Q_U_U_X_PORT_8083_TCP_ADDR", "9.8.7.6"},
		{"SUPER_IPV6_SERVICE_HOST", "2001:DB8::"},
		{"SUPER_IPV6_SERVICE_PORT", "8084"},
		{"SUPER_IPV6_SERVICE_PORT_U_D_P", "8084"},
		{"SUPER_IPV6_SERVICE_PORT_T_C_P", "8084"},
		{"SUPER_IPV6_PORT", "udp://[2001:DB8::]:8084"},
		{"SUPER_IPV6_PORT_8084_UDP", "udp://[2001:DB8::]:8084"},
		{"SUPER_IPV6_PORT_8084_UDP_PROTO", "udp"},
		{"SUPER_IPV6_PORT_8084_UDP_PORT", "8084"},
		{"SUPER_IPV6_PORT_8084_UDP_ADDR", "2001:DB8::"},
		{"SUPER_IPV6_PORT_8084_TCP", "tcp://[2001:DB8::]:8084"},
		{"SUPER_IPV6_PORT_8084_TCP_PROTO", "tcp"},
		{"SUPER_IPV6_PORT_8084_TCP_PORT", "8084"},
		{"SUPER_IPV6_PORT_8084_TCP_ADDR", "2001:DB8::"},
		{"SCTP_1_SERVICE_HOST", "1.2.3.4"},
		{"SCTP_1_SERVICE_PORT", "777"},
		{"SCTP_1_PORT", "sctp://1.2.3.4:777"},
		{"SCTP_1_PORT_777_SCTP", "sctp://1.2.3.4:777"},
		{"SCTP_1_PORT_777_SCTP_PROTO", "sctp"},
		{"SCTP_1_PORT_777_SCTP_PORT", "777"},
		{"SCTP_1_PORT_777_SCTP_ADDR", "1.2.3.4"},
		{"NO_PROTOCOL_SERVICE_HOST", "1.2.3.5"},
		{"NO_PROTOCOL_SERVICE_PORT", "80"},
		{"NO_PROTOCOL_PORT", "tcp://1.2.3.5:80"},
		{"NO_PROTOCOL_PORT_80_TCP", "tcp://1.2.3.5:80"},
		{"NO_PROTOCOL_PORT_80_TCP_PROTO", "tcp"},
		{"NO_PROTOCOL_PORT_80_TCP_PORT", "80"},
		{"NO_PROTOCOL_PORT_80_TCP_ADDR", "1.2.3.5"},
	}
	if !reflect.DeepEqual(got, want) {
		for i := range max(len(got), len(want)) {
			var g, w Var
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Errorf("variable %d: got %v, want %v", i, g, w)
			}
		}
	}
}

// lister serves Services from an indexer, as the informer's lister does.
func lister(t *testing.T, services ...*v1.Service) corelisters.ServiceLister {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, s := range services {
		if err := idx.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	return corelisters.NewServiceLister(idx)
}

func TestServiceEnv(t *testing.T) {
	master := service("default", "kubernetes", "10.96.0.1", port("https", 443, "TCP"))
	masterVars := map[string]string{
		"KUBERNETES_SERVICE_HOST":       "10.96.0.1",
		"KUBERNETES_SERVICE_PORT":       "443",
		"KUBERNETES_SERVICE_PORT_HTTPS": "443",
		"KUBERNETES_PORT":               "tcp://10.96.0.1:443",
		"KUBERNETES_PORT_443_TCP":       "tcp://10.96.0.1:443",
		"KUBERNETES_PORT_443_TCP_PROTO": "tcp",
		"KUBERNETES_PORT_443_TCP_PORT":  "443",
		"KUBERNETES_PORT_443_TCP_ADDR":  "10.96.0.1",
	}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range masterVars {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	redis := service("shop", "redis", "10.96.0.20", port("", 6379, "TCP"))
	redisVars := map[string]string{
		"REDIS_SERVICE_HOST":        "10.96.0.20",
		"REDIS_SERVICE_PORT":        "6379",
		"REDIS_PORT":                "tcp://10.96.0.20:6379",
		"REDIS_PORT_6379_TCP":       "tcp://10.96.0.20:6379",
		"REDIS_PORT_6379_TCP_PROTO": "tcp",
		"REDIS_PORT_6379_TCP_PORT":  "6379",
		"REDIS_PORT_6379_TCP_ADDR":  "10.96.0.20",
	}
	for _, tc := range []struct {
		name      string
		services  []*v1.Service
		namespace string
		links     bool
		want      map[string]string
	}{
		{
			name:     "the master service is in every namespace",
			services: []*v1.Service{master}, namespace: "shop", links: true,
			want: masterVars,
		},
		{
			name:     "services of the pod's namespace are linked",
			services: []*v1.Service{master, redis}, namespace: "shop", links: true,
			want: with(redisVars),
		},
		{
			name:     "other namespaces' services are not",
			services: []*v1.Service{master, redis, service("default", "web", "10.96.0.30", port("", 80, "TCP"))}, namespace: "other", links: true,
			want: masterVars,
		},
		{
			name:     "without links only the master service",
			services: []*v1.Service{master, redis}, namespace: "shop", links: false,
			want: masterVars,
		},
		{
			name:     "without links in the default namespace only the master service",
			services: []*v1.Service{master, service("default", "web", "10.96.0.30", port("", 80, "TCP"))}, namespace: "default", links: false,
			want: masterVars,
		},
		{
			name:     "headless and ExternalName services have no variables",
			services: []*v1.Service{master, service("shop", "headless", "None", port("", 80, "TCP")), service("shop", "ext", "", port("", 80, "TCP"))}, namespace: "shop", links: true,
			want: masterVars,
		},
		{
			name:     "a service of the namespace named kubernetes replaces the master's",
			services: []*v1.Service{master, service("shop", "kubernetes", "10.96.0.99", port("", 8443, "TCP"))}, namespace: "shop", links: true,
			want: map[string]string{
				"KUBERNETES_SERVICE_HOST":        "10.96.0.99",
				"KUBERNETES_SERVICE_PORT":        "8443",
				"KUBERNETES_PORT":                "tcp://10.96.0.99:8443",
				"KUBERNETES_PORT_8443_TCP":       "tcp://10.96.0.99:8443",
				"KUBERNETES_PORT_8443_TCP_PROTO": "tcp",
				"KUBERNETES_PORT_8443_TCP_PORT":  "8443",
				"KUBERNETES_PORT_8443_TCP_ADDR":  "10.96.0.99",
			},
		},
		{
			name:     "no master service, no master variables",
			services: []*v1.Service{redis}, namespace: "shop", links: true,
			want: redisVars,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ServiceEnv(APISource{Services: lister(t, tc.services...)}, tc.namespace, tc.links)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestServiceEnvBeforeSync(t *testing.T) {
	src := APISource{Services: lister(t), ServicesSynced: func() bool { return false }}
	if _, err := ServiceEnv(src, "shop", true); !errors.Is(err, ErrServicesNotSynced) {
		t.Errorf("before the first list: %v, want ErrServicesNotSynced", err)
	}
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop"}}
	if _, err := Resolve(context.Background(), src, pod, &v1.Container{}, "", ""); !errors.Is(err, ErrServicesNotSynced) {
		t.Errorf("Resolve before the first list: %v", err)
	}
}

// withServices is a test Source that also lists Services.
type withServices struct {
	source
	APISource
}

func (w withServices) ConfigMap(ctx context.Context, ns, name string) (*v1.ConfigMap, error) {
	return w.source.ConfigMap(ctx, ns, name)
}

func (w withServices) Secret(ctx context.Context, ns, name string) (*v1.Secret, error) {
	return w.source.Secret(ctx, ns, name)
}

func TestResolveWithServices(t *testing.T) {
	src := withServices{
		source: source{cms: map[string]*v1.ConfigMap{"cfg": {Data: map[string]string{"REDIS_SERVICE_PORT": "from-configmap"}}}},
		APISource: APISource{Services: lister(t,
			service("default", "kubernetes", "10.96.0.1", port("https", 443, "TCP")),
			service("shop", "redis", "10.96.0.20", port("", 6379, "TCP")))},
	}
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}}
	c := &v1.Container{
		EnvFrom: []v1.EnvFromSource{{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}}}},
		Env: []v1.EnvVar{
			{Name: "REDIS_URL", Value: "redis://$(REDIS_SERVICE_HOST):$(REDIS_SERVICE_PORT)"},
			{Name: "API", Value: "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"},
			{Name: "KUBERNETES_SERVICE_HOST", Value: "explicit"},
		},
	}
	got, err := Resolve(context.Background(), src, pod, c, "", "")
	if err != nil {
		t.Fatal(err)
	}
	// The spec's variables in order, then the remaining service variables
	// sorted; the spec's own definitions win, and $(VAR) sees both.
	want := []Var{
		{"REDIS_SERVICE_PORT", "from-configmap"},
		{"REDIS_URL", "redis://10.96.0.20:from-configmap"},
		{"API", "https://10.96.0.1:443"},
		{"KUBERNETES_SERVICE_HOST", "explicit"},
		{"KUBERNETES_PORT", "tcp://10.96.0.1:443"},
		{"KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443"},
		{"KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1"},
		{"KUBERNETES_PORT_443_TCP_PORT", "443"},
		{"KUBERNETES_PORT_443_TCP_PROTO", "tcp"},
		{"KUBERNETES_SERVICE_PORT", "443"},
		{"KUBERNETES_SERVICE_PORT_HTTPS", "443"},
		{"REDIS_PORT", "tcp://10.96.0.20:6379"},
		{"REDIS_PORT_6379_TCP", "tcp://10.96.0.20:6379"},
		{"REDIS_PORT_6379_TCP_ADDR", "10.96.0.20"},
		{"REDIS_PORT_6379_TCP_PORT", "6379"},
		{"REDIS_PORT_6379_TCP_PROTO", "tcp"},
		{"REDIS_SERVICE_HOST", "10.96.0.20"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}

	// enableServiceLinks: false keeps only the master service's.
	pod.Spec.EnableServiceLinks = new(bool)
	got, err = Resolve(context.Background(), src, pod, &v1.Container{}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range got {
		if v.Name[:5] == "REDIS" {
			t.Errorf("with enableServiceLinks false: %v", v)
		}
	}
	if len(got) != 8 {
		t.Errorf("with enableServiceLinks false: %d variables, want the master service's 8", len(got))
	}
}
