package aggregator

import (
	"encoding/json"
)

// Where kube-apiserver publishes how extension apiservers authenticate
// its requests and clients' certificates.
const (
	AuthenticationNamespace     = "kube-system"
	AuthenticationConfigMapName = "extension-apiserver-authentication"
)

// FrontProxyClientName is the common name of the client certificate the
// apiserver presents to extension apiservers, as kubeadm names it; the
// only name they accept front-proxy headers from.
const FrontProxyClientName = "front-proxy-client"

// The front-proxy headers, kube-apiserver's --requestheader-* defaults
// as kubeadm sets them.
var (
	usernameHeaders    = []string{"X-Remote-User"}
	uidHeaders         = []string{"X-Remote-Uid"}
	groupHeaders       = []string{"X-Remote-Group"}
	extraHeaderPrefix  = []string{"X-Remote-Extra-"}
	allowedClientNames = []string{FrontProxyClientName}
)

// AuthenticationConfigMapData is the content of
// extension-apiserver-authentication, as kube-apiserver's cluster
// authentication trust controller writes it: the CA of client
// certificates (client-ca-file), and the request-header settings: the CA
// and common names of the front proxy's certificates and the headers
// that carry the user. Lists are JSON arrays.
func AuthenticationConfigMapData(clientCA, requestHeaderCA []byte) map[string]string {
	list := func(v []string) string {
		b, _ := json.Marshal(v) // a []string always marshals
		return string(b)
	}
	return map[string]string{
		"client-ca-file":                     string(clientCA),
		"requestheader-client-ca-file":       string(requestHeaderCA),
		"requestheader-allowed-names":        list(allowedClientNames),
		"requestheader-username-headers":     list(usernameHeaders),
		"requestheader-uid-headers":          list(uidHeaders),
		"requestheader-group-headers":        list(groupHeaders),
		"requestheader-extra-headers-prefix": list(extraHeaderPrefix),
	}
}
