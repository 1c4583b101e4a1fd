// Package aggregator reaches the extension apiservers that APIServices
// with a spec.service name, as kube-aggregator does: requests for their
// group-version are proxied to the Service with the user in front-proxy
// headers (X-Remote-User, X-Remote-Uid, X-Remote-Group, X-Remote-Extra-*)
// and the apiserver's front-proxy client certificate; their
// availability is checked (the Service, its port and endpoints, then a
// discovery request), and their discovery documents are fetched for the
// apiserver's own.
//
// The extension apiserver trusts those headers because the client
// certificate is signed by the CA the apiserver publishes, with the
// header names, in kube-system/extension-apiserver-authentication
// (AuthenticationConfigMap).
package aggregator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"k8s.io/client-go/transport"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)

// Resolver finds the address a Service is reached at, as
// k8s.io/apiserver's webhook.ServiceResolver (the apiserver's resolves to
// the ClusterIP, or an ExternalName's host).
type Resolver interface {
	ResolveEndpoint(namespace, name string, port int32) (*url.URL, error)
}

// Aggregator holds what reaching extension apiservers takes: the front
// proxy client pair, the resolver, and one transport per APIService,
// rebuilt when its TLS settings change.
type Aggregator struct {
	certPEM, keyPEM []byte
	resolver        Resolver

	mu         sync.Mutex // guards transports
	transports map[string]cachedTransport
}

// cachedTransport is an APIService's transport and the TLS settings it
// was built from.
type cachedTransport struct {
	key [32]byte
	rt  http.RoundTripper
}

// New returns an Aggregator presenting the front-proxy client pair
// certPEM/keyPEM to the extension apiservers it finds through resolver.
func New(certPEM, keyPEM []byte, resolver Resolver) *Aggregator {
	return &Aggregator{certPEM: certPEM, keyPEM: keyPEM, resolver: resolver, transports: map[string]cachedTransport{}}
}

// ServerName is the name an extension apiserver's serving certificate
// must carry: <service>.<namespace>.svc, whatever address is dialled.
func ServerName(ref *apiregistrationv1.ServiceReference) string {
	return ref.Name + "." + ref.Namespace + ".svc"
}

// transportFor returns the transport to svc's Service: its caBundle (the
// system roots when empty) or no verification at all with
// insecureSkipTLSVerify, and the front-proxy client certificate.
func (a *Aggregator) transportFor(svc *apiregistrationv1.APIService) (http.RoundTripper, error) {
	cfg := &transport.Config{TLS: transport.TLSConfig{
		Insecure:   svc.Spec.InsecureSkipTLSVerify,
		ServerName: ServerName(svc.Spec.Service),
		CAData:     svc.Spec.CABundle,
		CertData:   a.certPEM,
		KeyData:    a.keyPEM,
	}}
	h := sha256.New()
	fmt.Fprintf(h, "%t\x00%s\x00", cfg.TLS.Insecure, cfg.TLS.ServerName)
	h.Write(cfg.TLS.CAData)
	var key [32]byte
	copy(key[:], h.Sum(nil))

	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.transports[svc.Name]; ok && c.key == key {
		return c.rt, nil
	}
	rt, err := transport.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("transport for APIService %s: %w", svc.Name, err)
	}
	a.transports[svc.Name] = cachedTransport{key: key, rt: rt}
	return rt, nil
}

// Forget drops the transport of an APIService that is gone.
func (a *Aggregator) Forget(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.transports, name)
}

// location is where svc's Service answers path.
func (a *Aggregator) location(svc *apiregistrationv1.APIService, path, rawQuery string) (*url.URL, error) {
	ref := svc.Spec.Service
	port := int32(443)
	if ref.Port != nil {
		port = *ref.Port
	}
	u, err := a.resolver.ResolveEndpoint(ref.Namespace, ref.Name, port)
	if err != nil {
		return nil, err
	}
	return &url.URL{Scheme: "https", Host: u.Host, Path: path, RawQuery: rawQuery}, nil
}

// get sends GET path to svc's Service as the aggregator itself
// (system:kube-aggregator in system:masters, as kube-aggregator's checks
// identify themselves) and returns the status, content type and body.
func (a *Aggregator) get(ctx context.Context, svc *apiregistrationv1.APIService, path, accept string) (int, string, []byte, error) {
	rt, err := a.transportFor(svc)
	if err != nil {
		return 0, "", nil, err
	}
	loc, err := a.location(svc, path, "")
	if err != nil {
		return 0, "", nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
	if err != nil {
		return 0, "", nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	transport.SetAuthProxyHeaders(req, "system:kube-aggregator", "", []string{"system:masters"}, nil)
	client := &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", nil, fmt.Errorf("failing or missing response from %s: %w", loc, err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(http.MaxBytesReader(nil, resp.Body, 16<<20)); err != nil {
		return 0, "", nil, fmt.Errorf("read response from %s: %w", loc, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body.Bytes(), nil
}
