package aggregator

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/proxy"
	proxyutil "k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/client-go/transport"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/kube-aggregator/pkg/apis/apiregistration/v1/helper"

	"coracle.dev/apiserver/internal/authn"
)

// Proxy serves r, already authenticated as user and authorized, from the
// extension apiserver behind svc, as kube-aggregator's proxy handler: an
// APIService not Available answers 503 "service unavailable"; the
// client's own credentials (the bearer token, impersonation headers) stay
// here, and the user goes in the front-proxy headers. Watches stream and
// upgrades (exec, port-forward) are spliced through.
func (a *Aggregator) Proxy(w http.ResponseWriter, r *http.Request, svc *apiregistrationv1.APIService, user *authn.User) {
	if !helper.IsAPIServiceConditionTrue(svc, apiregistrationv1.Available) {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	rt, err := a.transportFor(svc)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	loc, err := a.location(svc, r.URL.Path, r.URL.Query().Encode())
	if err != nil {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	req, cancel := proxyutil.NewRequestForProxy(loc, r)
	defer cancel()
	// kube-apiserver's authentication and impersonation filters remove
	// these once they are done with them; the extension apiserver must
	// not see the client's token.
	req.Header.Del("Authorization")
	for k := range req.Header {
		if strings.HasPrefix(strings.ToLower(k), "impersonate-") {
			req.Header.Del(k)
		}
	}
	upgrade := httpstream.IsUpgradeRequest(r)
	// An upgrade dials the backend directly with the transport's TLS
	// configuration, past the round tripper: the headers go on the
	// request itself.
	if upgrade {
		transport.SetAuthProxyHeaders(req, user.Name, user.UID, user.Groups, user.Extra)
	}
	rt = transport.NewAuthProxyRoundTripper(user.Name, user.UID, user.Groups, user.Extra, rt)
	h := proxy.NewUpgradeAwareHandler(loc, rt, true, upgrade, responder{})
	h.ServeHTTP(w, req)
}

// responder answers a failed proxy request as kube-aggregator's: 503
// with the error's text.
type responder struct{}

func (responder) Error(w http.ResponseWriter, _ *http.Request, err error) {
	http.Error(w, err.Error(), http.StatusServiceUnavailable)
}
