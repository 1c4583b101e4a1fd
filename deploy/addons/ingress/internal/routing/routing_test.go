package routing

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// objects is a Lookup over fixed objects.
type objects struct {
	services []*corev1.Service
	slices   []*discoveryv1.EndpointSlice
	secrets  []*corev1.Secret
}

func (o objects) Service(ns, name string) (*corev1.Service, bool) {
	for _, s := range o.services {
		if s.Namespace == ns && s.Name == name {
			return s, true
		}
	}
	return nil, false
}

func (o objects) EndpointSlices(ns, svc string) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for _, s := range o.slices {
		if s.Namespace == ns && s.Labels[discoveryv1.LabelServiceName] == svc {
			out = append(out, s)
		}
	}
	return out
}

func (o objects) Secret(ns, name string) (*corev1.Secret, bool) {
	for _, s := range o.secrets {
		if s.Namespace == ns && s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// service is a Service with one port: named portName when not empty.
func service(name string, port int32, portName string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: portName, Port: port}}},
	}
}

type endpoint struct {
	ip    string
	ready *bool
}

func ready(ip string) endpoint    { return endpoint{ip, ptr.To(true)} }
func notReady(ip string) endpoint { return endpoint{ip, ptr.To(false)} }

// slice is an EndpointSlice of service svc with one port.
func slice(name, svc, portName string, port int32, eps ...endpoint) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(portName), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: e.ready}})
	}
	return s
}

func tlsSecret(name string, crt, key []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key},
	}
}

// keyPair is a self-signed certificate for hosts and its key, PEM.
func keyPair(t *testing.T, hosts ...string) (crt, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: hosts[0]}, DNSNames: hosts,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

// ingress builds an Ingress created age seconds after a fixed instant.
func ingress(name string, age int, edit func(*networkingv1.IngressSpec)) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{
		Namespace: "default", Name: name,
		CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, age, 0, time.UTC)),
	}}
	edit(&ing.Spec)
	return ing
}

func backend(svc string, port int32) networkingv1.IngressBackend {
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: port}}}
}

func namedBackend(svc, port string) networkingv1.IngressBackend {
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Name: port}}}
}

type path struct {
	path    string
	typ     networkingv1.PathType
	backend networkingv1.IngressBackend
}

func rule(host string, paths ...path) networkingv1.IngressRule {
	r := networkingv1.IngressRule{Host: host}
	if len(paths) > 0 {
		r.HTTP = &networkingv1.HTTPIngressRuleValue{}
	}
	for _, p := range paths {
		r.HTTP.Paths = append(r.HTTP.Paths, networkingv1.HTTPIngressPath{Path: p.path, PathType: ptr.To(p.typ), Backend: p.backend})
	}
	return r
}

const (
	exact  = networkingv1.PathTypeExact
	prefix = networkingv1.PathTypePrefix
	implsp = networkingv1.PathTypeImplementationSpecific
)

// render prints a table in a form a test can state plainly.
func render(t *Table) string {
	var b strings.Builder
	host := func(h Host) {
		name := h.Name
		if name == "" {
			name = "(any host)"
		}
		if h.TLS {
			name += " tls"
		}
		fmt.Fprintln(&b, name)
		for _, p := range h.Paths {
			fmt.Fprintf(&b, "  %s %s -> %s\n", p.Match, p.Path, renderBackend(&p.Backend))
		}
		fmt.Fprintf(&b, "  else -> %s\n", renderBackend(h.Fallback))
	}
	for _, h := range t.Hosts {
		host(h)
	}
	host(t.Default)
	for _, c := range t.Certificates {
		fmt.Fprintf(&b, "cert %s %s\n", c.Tag, strings.Join(c.Hosts, ","))
	}
	return b.String()
}

func renderBackend(be *Backend) string {
	switch {
	case be == nil:
		return "404"
	case len(be.Upstreams) == 0:
		return "503"
	}
	return strings.Join(be.Upstreams, ",")
}

func TestBuild(t *testing.T) {
	validCrt, validKey := keyPair(t, "a.example.com")
	otherCrt, otherKey := keyPair(t, "b.example.com")
	base := objects{
		services: []*corev1.Service{
			service("one", 80, ""), service("two", 80, "http"), service("empty", 80, ""),
			{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"}, Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.net", Ports: []corev1.ServicePort{{Port: 5000}}}},
		},
		slices: []*discoveryv1.EndpointSlice{
			slice("one-a", "one", "", 8080, ready("10.0.0.2"), ready("10.0.0.1")),
			// The same address in two slices is proxied to once.
			slice("one-b", "one", "", 8080, ready("10.0.0.1"), notReady("10.0.0.3"), endpoint{ip: "10.0.0.4"}),
			slice("two-a", "two", "http", 9090, ready("10.0.1.1")),
			// A slice port of another name is not the Service port's.
			slice("two-b", "two", "metrics", 9100, ready("10.0.1.9")),
			slice("empty-a", "empty", "", 8080, notReady("10.0.2.1")),
		},
		secrets: []*corev1.Secret{
			tlsSecret("valid", validCrt, validKey),
			tlsSecret("other", otherCrt, otherKey),
			tlsSecret("mismatched", validCrt, otherKey),
			{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "opaque"}, Data: map[string][]byte{"foo": []byte("bar")}},
		},
	}
	one, two := "10.0.0.1:8080,10.0.0.2:8080,10.0.0.4:8080", "10.0.1.1:9090"
	cases := []struct {
		name      string
		ingresses []*networkingv1.Ingress
		want      string
		problems  map[string][]string
	}{
		{
			name: "two hosts and two paths to two services",
			ingresses: []*networkingv1.Ingress{ingress("web", 0, func(s *networkingv1.IngressSpec) {
				s.Rules = []networkingv1.IngressRule{
					rule("b.example.com", path{"/", prefix, backend("one", 80)}, path{"/api", prefix, namedBackend("two", "http")}),
					rule("a.example.com", path{"/", prefix, namedBackend("two", "http")}, path{"/api", prefix, backend("one", 80)}),
				}
			})},
			want: `a.example.com
  Prefix /api -> ` + one + `
  Prefix / -> ` + two + `
  else -> 404
b.example.com
  Prefix /api -> ` + two + `
  Prefix / -> ` + one + `
  else -> 404
(any host)
  else -> 404
`,
		},
		{
			name: "longest path first, Exact before Prefix of the same path, ImplementationSpecific is Prefix",
			ingresses: []*networkingv1.Ingress{ingress("web", 0, func(s *networkingv1.IngressSpec) {
				s.Rules = []networkingv1.IngressRule{rule("a.example.com",
					path{"/foo", prefix, backend("one", 80)},
					path{"/foo/bar", implsp, namedBackend("two", "http")},
					path{"/foo", exact, namedBackend("two", "http")},
					path{"/foo/", prefix, namedBackend("two", "http")},
				)}
			})},
			want: `a.example.com
  Prefix /foo/bar -> ` + two + `
  Prefix /foo/ -> ` + two + `
  Exact /foo -> ` + two + `
  Prefix /foo -> ` + one + `
  else -> 404
(any host)
  else -> 404
`,
		},
		{
			name: "exact hosts before wildcards, rules without host last",
			ingresses: []*networkingv1.Ingress{ingress("web", 0, func(s *networkingv1.IngressSpec) {
				s.Rules = []networkingv1.IngressRule{
					rule("*.example.com", path{"/", prefix, backend("one", 80)}),
					rule("", path{"/", prefix, namedBackend("two", "http")}),
					rule("z.example.com", path{"/", prefix, namedBackend("two", "http")}),
				}
			})},
			want: `z.example.com
  Prefix / -> ` + two + `
  else -> 404
*.example.com
  Prefix / -> ` + one + `
  else -> 404
(any host)
  Prefix / -> ` + two + `
  else -> 404
`,
		},
		{
			name: "rules of one host merge across Ingresses and the oldest wins a conflict",
			ingresses: []*networkingv1.Ingress{
				ingress("newer", 5, func(s *networkingv1.IngressSpec) {
					s.Rules = []networkingv1.IngressRule{rule("a.example.com", path{"/", prefix, backend("one", 80)}, path{"/new", exact, backend("one", 80)})}
				}),
				ingress("older", 1, func(s *networkingv1.IngressSpec) {
					s.Rules = []networkingv1.IngressRule{rule("a.example.com", path{"/", prefix, namedBackend("two", "http")})}
				}),
			},
			want: `a.example.com
  Exact /new -> ` + one + `
  Prefix / -> ` + two + `
  else -> 404
(any host)
  else -> 404
`,
		},
		{
			name: "default backends: the host's own Ingress's, else the oldest Ingress's",
			ingresses: []*networkingv1.Ingress{
				ingress("catch-all", 1, func(s *networkingv1.IngressSpec) { s.DefaultBackend = ptr.To(backend("one", 80)) }),
				ingress("with-own", 2, func(s *networkingv1.IngressSpec) {
					s.DefaultBackend = ptr.To(namedBackend("two", "http"))
					s.Rules = []networkingv1.IngressRule{rule("own.example.com", path{"/x", exact, backend("one", 80)})}
				}),
				ingress("without", 3, func(s *networkingv1.IngressSpec) {
					s.Rules = []networkingv1.IngressRule{rule("plain.example.com", path{"/x", exact, namedBackend("two", "http")})}
				}),
			},
			want: `own.example.com
  Exact /x -> ` + one + `
  else -> ` + two + `
plain.example.com
  Exact /x -> ` + two + `
  else -> ` + one + `
(any host)
  else -> ` + one + `
`,
		},
		{
			name: "a missing Service, a missing port and no ready endpoints answer 503 and are problems",
			ingresses: []*networkingv1.Ingress{ingress("web", 0, func(s *networkingv1.IngressSpec) {
				s.Rules = []networkingv1.IngressRule{rule("a.example.com",
					path{"/missing", prefix, backend("missing", 80)},
					path{"/again", prefix, backend("missing", 80)},
					path{"/port", prefix, backend("one", 81)},
					path{"/named", prefix, namedBackend("two", "grpc")},
					path{"/empty", prefix, backend("empty", 80)},
					path{"/", prefix, backend("one", 80)},
				)}
			})},
			want: `a.example.com
  Prefix /missing -> 503
  Prefix /again -> 503
  Prefix /empty -> 503
  Prefix /named -> 503
  Prefix /port -> 503
  Prefix / -> ` + one + `
  else -> 404
(any host)
  else -> 404
`,
			problems: map[string][]string{"default/web": {
				`ServiceNotFound: service "default/missing" not found: its routes answer 503`,
				`ServicePortNotFound: service "default/one" has no port 81: its routes answer 503`,
				`ServicePortNotFound: service "default/two" has no port grpc: its routes answer 503`,
				`NoReadyEndpoints: service "default/empty" has no ready endpoints: its routes answer 503`,
			}},
		},
		{
			name: "resource backends are not supported; ExternalName Services are proxied to by name",
			ingresses: []*networkingv1.Ingress{ingress("web", 0, func(s *networkingv1.IngressSpec) {
				s.Rules = []networkingv1.IngressRule{rule("a.example.com",
					path{"/bucket", prefix, networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "b"}}},
					path{"/db", prefix, backend("db", 5000)},
				)}
			})},
			want: `a.example.com
  Prefix /bucket -> 503
  Prefix /db -> db.example.net:5000
  else -> 404
(any host)
  else -> 404
`,
			problems: map[string][]string{"default/web": {`UnsupportedBackend: backend resource Bucket "b" is not supported, only Services: its routes answer 503`}},
		},
		{
			name: "TLS: valid Secrets serve their hosts; missing or invalid ones leave theirs without TLS",
			ingresses: []*networkingv1.Ingress{
				ingress("secure", 1, func(s *networkingv1.IngressSpec) {
					s.TLS = []networkingv1.IngressTLS{
						{Hosts: []string{"a.example.com", "*.example.com"}, SecretName: "valid"},
						{Hosts: []string{"bad.example.com"}, SecretName: "mismatched"},
						{Hosts: []string{"gone.example.com"}, SecretName: "absent"},
						{Hosts: []string{"opaque.example.com"}, SecretName: "opaque"},
					}
					s.Rules = []networkingv1.IngressRule{
						rule("a.example.com", path{"/", prefix, backend("one", 80)}),
						rule("bad.example.com", path{"/", prefix, backend("one", 80)}),
						rule("gone.example.com", path{"/", prefix, backend("one", 80)}),
					}
				}),
				// A host an older Ingress took keeps that Ingress's
				// certificate; an entry without hosts covers the
				// Ingress's rules.
				ingress("later", 2, func(s *networkingv1.IngressSpec) {
					s.TLS = []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}, SecretName: "other"}, {SecretName: "other"}}
					s.Rules = []networkingv1.IngressRule{rule("b.example.com", path{"/", prefix, backend("one", 80)})}
				}),
			},
			want: `a.example.com tls
  Prefix / -> ` + one + `
  else -> 404
b.example.com tls
  Prefix / -> ` + one + `
  else -> 404
bad.example.com
  Prefix / -> ` + one + `
  else -> 404
gone.example.com
  Prefix / -> ` + one + `
  else -> 404
(any host)
  else -> 404
cert default/other b.example.com
cert default/valid *.example.com,a.example.com
`,
			problems: map[string][]string{"default/secure": {
				`InvalidTLSSecret: TLS secret "default/mismatched" is not a valid key pair (tls: private key does not match public key): its hosts are not served over HTTPS`,
				`TLSSecretNotFound: TLS secret "default/absent" not found: its hosts are not served over HTTPS`,
				`InvalidTLSSecret: TLS secret "default/opaque" is not a valid key pair (tls: failed to find any PEM data in certificate input): its hosts are not served over HTTPS`,
			}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			table, problems := Build(tc.ingresses, base)
			if got := render(table); got != tc.want {
				t.Errorf("table:\n%s\nwant:\n%s", got, tc.want)
			}
			got := map[string][]string{}
			for k, ps := range problems {
				for _, p := range ps {
					got[k] = append(got[k], p.Reason+": "+p.Message)
				}
			}
			want := tc.problems
			if want == nil {
				want = map[string][]string{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("problems:\n%q\nwant:\n%q", got, want)
			}
		})
	}
}

func TestCertificatesCarryTheSecretsPEM(t *testing.T) {
	crt, key := keyPair(t, "a.example.com")
	ing := ingress("web", 0, func(s *networkingv1.IngressSpec) {
		s.TLS = []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}, SecretName: "valid"}}
		s.Rules = []networkingv1.IngressRule{rule("a.example.com")}
	})
	table, _ := Build([]*networkingv1.Ingress{ing}, objects{secrets: []*corev1.Secret{tlsSecret("valid", crt, key)}})
	if len(table.Certificates) != 1 || table.Certificates[0].CertPEM != string(crt) || table.Certificates[0].KeyPEM != string(key) {
		t.Fatalf("certificates: %+v", table.Certificates)
	}
}

func TestReadyUpstreamsSkipsOtherAddressTypesAndProtocols(t *testing.T) {
	udp := slice("udp", "dns", "dns", 53, ready("10.0.0.1"))
	udp.Ports[0].Protocol = ptr.To(corev1.ProtocolUDP)
	fqdn := slice("fqdn", "dns", "dns", 53, ready("db.example.net"))
	fqdn.AddressType = discoveryv1.AddressTypeFQDN
	tcp := slice("tcp", "dns", "dns", 53, ready("10.0.0.2"))
	v6 := slice("v6", "dns", "dns", 53, ready("fd00::2"))
	v6.AddressType = discoveryv1.AddressTypeIPv6
	got := ReadyUpstreams([]*discoveryv1.EndpointSlice{udp, fqdn, tcp, v6}, "dns")
	if want := []string{"10.0.0.2:53", "[fd00::2]:53"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadyUpstreams = %q, want %q", got, want)
	}
}
