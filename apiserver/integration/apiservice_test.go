package integration

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggregatorclient "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
	"k8s.io/utils/ptr"

	"coracle.dev/shared/pki"
)

const automanagedLabel = "kube-aggregator.kubernetes.io/automanaged"

// waitAPIService waits until the APIService name exists and check accepts
// it.
func waitAPIService(t *testing.T, agg *aggregatorclient.Clientset, name string, check func(*apiregistrationv1.APIService) bool) *apiregistrationv1.APIService {
	t.Helper()
	var got *apiregistrationv1.APIService
	eventually(t, 20*time.Second, "APIService "+name, func() (bool, error) {
		svc, err := agg.ApiregistrationV1().APIServices().Get(ctx(t), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got = svc
		return check(svc), nil
	})
	return got
}

func locallyAvailable(svc *apiregistrationv1.APIService) bool {
	for _, c := range svc.Status.Conditions {
		if c.Type == apiregistrationv1.Available {
			return c.Status == apiregistrationv1.ConditionTrue && c.Reason == "Local"
		}
	}
	return false
}

// The server keeps an APIService per group-version it serves, as
// kube-apiserver's aggregator: the built-in ones with upstream's
// priorities, a CRD's for as long as the CRD serves the version;
// apiregistration.k8s.io/v1 is in discovery, plain and aggregated;
// APIServices are validated as kube-aggregator validates them, and one an
// administrator makes is left alone.
func TestAPIServices(t *testing.T) {
	c := start(t)
	agg := aggregatorclient.NewForConfigOrDie(c.Config)

	for _, tt := range []struct {
		name                  string
		group, version        string
		groupPrio, versionPri int32
	}{
		{"v1.", "", "v1", 18000, 1},
		{"v1.apps", "apps", "v1", 17800, 15},
		{"v2.autoscaling", "autoscaling", "v2", 17500, 30},
		{"v1.apiextensions.k8s.io", "apiextensions.k8s.io", "v1", 16700, 15},
	} {
		svc := waitAPIService(t, agg, tt.name, locallyAvailable)
		if svc.Spec.Group != tt.group || svc.Spec.Version != tt.version || svc.Spec.Service != nil ||
			svc.Spec.GroupPriorityMinimum != tt.groupPrio || svc.Spec.VersionPriority != tt.versionPri || svc.Labels[automanagedLabel] != "onstart" {
			t.Errorf("%s: labels %v, spec %+v", tt.name, svc.Labels, svc.Spec)
		}
	}

	resources, err := c.client.Discovery().ServerResourcesForGroupVersion("apiregistration.k8s.io/v1")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, r := range resources.APIResources {
		found[r.Name] = true
		if r.Name == "apiservices" && (r.Namespaced || r.Kind != "APIService") {
			t.Errorf("discovery of apiservices: %+v", r)
		}
	}
	if !found["apiservices"] || !found["apiservices/status"] {
		t.Errorf("apiregistration.k8s.io/v1 lists %v", found)
	}
	resp := doWith(t, c.http, c.Server.URL(), http.MethodGet, "/apis", "", nil,
		http.Header{"Accept": {"application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"}})
	var aggregated apidiscoveryv2.APIGroupDiscoveryList
	if err := json.Unmarshal(resp.body, &aggregated); err != nil || resp.code != http.StatusOK {
		t.Fatalf("aggregated discovery: %d %v", resp.code, err)
	}
	if !inAggregated(aggregated, "apiregistration.k8s.io", "v1", "apiservices") {
		t.Error("aggregated discovery does not list apiregistration.k8s.io/v1 apiservices")
	}

	// A CRD's served versions get APIServices while it exists.
	ext := c.createCRD(t, widgetCRD())
	for _, name := range []string{"v1.stable.example.com", "v1beta1.stable.example.com"} {
		svc := waitAPIService(t, agg, name, locallyAvailable)
		if svc.Labels[automanagedLabel] != "true" || svc.Spec.GroupPriorityMinimum != 1000 || svc.Spec.VersionPriority != 100 {
			t.Errorf("%s: labels %v, spec %+v", name, svc.Labels, svc.Spec)
		}
	}
	if err := ext.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx(t), "widgets.stable.example.com", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the CRD's APIServices deleted", func() (bool, error) {
		for _, name := range []string{"v1.stable.example.com", "v1beta1.stable.example.com"} {
			if _, err := agg.ApiregistrationV1().APIServices().Get(ctx(t), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false, err
			}
		}
		return true, nil
	})

	// kube-aggregator's validation: the name is version.group.
	_, err = agg.ApiregistrationV1().APIServices().Create(ctx(t), &apiregistrationv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: "wrong"},
		Spec:       apiregistrationv1.APIServiceSpec{Group: "example.com", Version: "v1", GroupPriorityMinimum: 100, VersionPriority: 10},
	}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !contains(err.Error(), "metadata.name") {
		t.Fatalf("create with a name not version.group: %v, want 422 naming metadata.name", err)
	}
	// An administrator's local APIService is Available and stays.
	mine, err := agg.ApiregistrationV1().APIServices().Create(ctx(t), &apiregistrationv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: "v1.mine.example.com"},
		Spec:       apiregistrationv1.APIServiceSpec{Group: "mine.example.com", Version: "v1", GroupPriorityMinimum: 100, VersionPriority: 10},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !locallyAvailable(mine) {
		t.Errorf("created local APIService: status %+v", mine.Status)
	}
	// A built-in one changed by hand after start keeps the change (it is
	// put back at the next start); meanwhile the administrator's is still
	// there.
	apps, err := agg.ApiregistrationV1().APIServices().Get(ctx(t), "v1.apps", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	apps.Spec.VersionPriority = 16
	if _, err := agg.ApiregistrationV1().APIServices().Update(ctx(t), apps, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := agg.ApiregistrationV1().APIServices().Get(ctx(t), "v1.mine.example.com", metav1.GetOptions{}); err != nil {
		t.Errorf("the administrator's APIService: %v", err)
	}

	// kubectl get's columns.
	resp = doWith(t, c.http, c.Server.URL(), http.MethodGet, "/apis/apiregistration.k8s.io/v1/apiservices/v1.apps", "", nil,
		http.Header{"Accept": {"application/json;as=Table;v=v1;g=meta.k8s.io"}})
	var table metav1.Table
	if err := json.Unmarshal(resp.body, &table); err != nil || resp.code != http.StatusOK {
		t.Fatalf("table: %d %v %s", resp.code, err, resp.body)
	}
	if len(table.ColumnDefinitions) != 4 || len(table.Rows) != 1 || table.Rows[0].Cells[1] != "Local" || table.Rows[0].Cells[2] != "True" {
		t.Errorf("table: columns %v, rows %v", table.ColumnDefinitions, table.Rows)
	}

	// After a restart the built-in APIService is registered again.
	c.Restart()
	c = newCluster(t, c.TestServer)
	agg = aggregatorclient.NewForConfigOrDie(c.Config)
	waitAPIService(t, agg, "v1.apps", func(svc *apiregistrationv1.APIService) bool { return svc.Spec.VersionPriority == 15 })
	if _, err := agg.ApiregistrationV1().APIServices().Get(ctx(t), "v1.mine.example.com", metav1.GetOptions{}); err != nil {
		t.Errorf("the administrator's APIService after a restart: %v", err)
	}
}

func inAggregated(list apidiscoveryv2.APIGroupDiscoveryList, group, version, resource string) bool {
	for _, g := range list.Items {
		if g.Name != group {
			continue
		}
		for _, v := range g.Versions {
			if v.Version != version {
				continue
			}
			for _, r := range v.Resources {
				if r.Resource == resource {
					return true
				}
			}
		}
	}
	return false
}

// extensionServer is a stand-in extension apiserver, configured as a real
// one configures itself from kube-system/extension-apiserver-authentication:
// it requires a client certificate of the published request-header CA
// with an allowed name, and takes the user from the published headers.
// It serves wardle.example.com/v1alpha1 discovery and echoes the user of
// a list of flunders.
func extensionServer(t *testing.T, c *cluster) (srv *httptest.Server, caPEM []byte) {
	t.Helper()
	var cm *corev1.ConfigMap
	eventually(t, 20*time.Second, "extension-apiserver-authentication", func() (bool, error) {
		var err error
		cm, err = c.client.CoreV1().ConfigMaps("kube-system").Get(ctx(t), "extension-apiserver-authentication", metav1.GetOptions{})
		return err == nil, err
	})
	var allowed, userHeaders, groupHeaders []string
	for key, into := range map[string]*[]string{
		"requestheader-allowed-names": &allowed, "requestheader-username-headers": &userHeaders, "requestheader-group-headers": &groupHeaders,
	} {
		if err := json.Unmarshal([]byte(cm.Data[key]), into); err != nil || len(*into) == 0 {
			t.Fatalf("%s = %q: %v", key, cm.Data[key], err)
		}
	}
	proxyCAs := x509.NewCertPool()
	if !proxyCAs.AppendCertsFromPEM([]byte(cm.Data["requestheader-client-ca-file"])) {
		t.Fatalf("requestheader-client-ca-file: %q", cm.Data["requestheader-client-ca-file"])
	}
	if string(c.Server.CACertPEM()) != cm.Data["client-ca-file"] {
		t.Errorf("client-ca-file is not the cluster CA")
	}

	ca, err := pki.NewCA("wardle-ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.Issue(pki.Request{CommonName: "api", DNSNames: []string{"api.wardle.svc"}, Usage: pki.ServerUsage})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/apis/wardle.example.com/v1alpha1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&metav1.APIResourceList{
			TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
			GroupVersion: "wardle.example.com/v1alpha1",
			APIResources: []metav1.APIResource{{Name: "flunders", SingularName: "flunder", Namespaced: true, Kind: "Flunder", Verbs: metav1.Verbs{"get", "list"}}},
		})
	})
	mux.HandleFunc("/apis/wardle.example.com/v1alpha1/namespaces/default/flunders", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"user": r.Header.Get(userHeaders[0]), "groups": r.Header.Values(groupHeaders[0]), "authorization": r.Header.Get("Authorization"),
		})
	})
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := r.TLS.PeerCertificates[0].Subject.CommonName
		for _, name := range allowed {
			if cn == name {
				mux.ServeHTTP(w, r)
				return
			}
		}
		http.Error(w, "client "+cn+" is not a front proxy", http.StatusUnauthorized)
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{serving.Cert.Raw}, PrivateKey: serving.Key}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    proxyCAs,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, ca.CertPEM
}

// An APIService naming a Service hands its group-version to that
// extension apiserver: once the availability checks pass, requests are
// proxied with the user in front-proxy headers and the front-proxy client
// certificate, and discovery lists the group; an APIService whose
// Service is missing is Available False and answers 503.
func TestAggregatedAPIService(t *testing.T) {
	c := start(t)
	agg := aggregatorclient.NewForConfigOrDie(c.Config)
	srv, caPEM := extensionServer(t, c)
	_, portText, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portText)

	// Tests cannot route a ClusterIP: an ExternalName Service leads to
	// loopback, which the resolver dials as the Service's name; TLS
	// still checks api.wardle.svc.
	createNamespace(t, c, "wardle")
	if _, err := c.client.CoreV1().Services("wardle").Create(ctx(t), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "127.0.0.1"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := agg.ApiregistrationV1().APIServices().Create(ctx(t), &apiregistrationv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: "v1alpha1.wardle.example.com"},
		Spec: apiregistrationv1.APIServiceSpec{
			Group: "wardle.example.com", Version: "v1alpha1", CABundle: caPEM,
			Service:              &apiregistrationv1.ServiceReference{Namespace: "wardle", Name: "api", Port: ptr.To(int32(port))},
			GroupPriorityMinimum: 2000, VersionPriority: 200,
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAPIService(t, agg, "v1alpha1.wardle.example.com", func(svc *apiregistrationv1.APIService) bool {
		for _, c := range svc.Status.Conditions {
			if c.Type == apiregistrationv1.Available {
				return c.Status == apiregistrationv1.ConditionTrue && c.Reason == "Passed"
			}
		}
		return false
	})

	resp := c.do(t, http.MethodGet, "/apis/wardle.example.com/v1alpha1/namespaces/default/flunders", "", nil)
	var echoed struct {
		User          string   `json:"user"`
		Groups        []string `json:"groups"`
		Authorization string   `json:"authorization"`
	}
	if err := json.Unmarshal(resp.body, &echoed); err != nil || resp.code != http.StatusOK {
		t.Fatalf("proxied list: %d %s", resp.code, resp.body)
	}
	if echoed.User != "kubernetes-admin" || !slicesContains(echoed.Groups, "system:masters") || echoed.Authorization != "" {
		t.Errorf("the extension apiserver saw %+v", echoed)
	}

	resources, err := c.client.Discovery().ServerResourcesForGroupVersion("wardle.example.com/v1alpha1")
	if err != nil || len(resources.APIResources) != 1 || resources.APIResources[0].Name != "flunders" {
		t.Fatalf("proxied discovery: %v %+v", err, resources)
	}
	groups, err := c.client.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, g := range groups.Groups {
		listed = listed || (g.Name == "wardle.example.com" && g.PreferredVersion.Version == "v1alpha1")
	}
	if !listed {
		t.Errorf("/apis does not list wardle.example.com")
	}
	eventually(t, 20*time.Second, "wardle.example.com in aggregated discovery", func() (bool, error) {
		resp := doWith(t, c.http, c.Server.URL(), http.MethodGet, "/apis", "", nil,
			http.Header{"Accept": {"application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"}})
		var list apidiscoveryv2.APIGroupDiscoveryList
		if err := json.Unmarshal(resp.body, &list); err != nil {
			return false, err
		}
		return inAggregated(list, "wardle.example.com", "v1alpha1", "flunders"), nil
	})

	// No Service behind it: honestly unavailable, and 503.
	if _, err := agg.ApiregistrationV1().APIServices().Create(ctx(t), &apiregistrationv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: "v1.missing.example.com"},
		Spec: apiregistrationv1.APIServiceSpec{
			Group: "missing.example.com", Version: "v1", InsecureSkipTLSVerify: true,
			Service:              &apiregistrationv1.ServiceReference{Namespace: "wardle", Name: "nothing"},
			GroupPriorityMinimum: 2000, VersionPriority: 200,
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAPIService(t, agg, "v1.missing.example.com", func(svc *apiregistrationv1.APIService) bool {
		for _, c := range svc.Status.Conditions {
			if c.Type == apiregistrationv1.Available {
				return c.Status == apiregistrationv1.ConditionFalse && c.Reason == "ServiceNotFound"
			}
		}
		return false
	})
	if r := c.do(t, http.MethodGet, "/apis/missing.example.com/v1/things", "", nil); r.code != http.StatusServiceUnavailable {
		t.Errorf("request to an unavailable APIService: %d %s, want 503", r.code, r.body)
	}

	// Without its APIService the group-version is not served at all.
	if err := agg.ApiregistrationV1().APIServices().Delete(ctx(t), "v1alpha1.wardle.example.com", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the group-version gone", func() (bool, error) {
		r := c.do(t, http.MethodGet, "/apis/wardle.example.com/v1alpha1/namespaces/default/flunders", "", nil)
		return r.code == http.StatusNotFound, nil
	})
}

func slicesContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
