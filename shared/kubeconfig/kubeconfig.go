// Package kubeconfig writes and reads standard kubeconfig files, the ones
// kubectl and client-go read unchanged.
package kubeconfig

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Credentials describe one user of one cluster.
type Credentials struct {
	// ClusterName names the cluster entry, e.g. "coracle".
	ClusterName string
	// Server is the apiserver URL, e.g. https://127.0.0.1:6443.
	Server string
	// CAData is the PEM of the cluster CA.
	CAData []byte
	// UserName names the user entry, e.g. "admin".
	UserName string
	// ClientCertData and ClientKeyData are a PEM client certificate and key.
	ClientCertData []byte
	ClientKeyData  []byte
	// Token is a bearer token, used when no client certificate is given.
	Token string
}

// Build returns the kubeconfig for c with one context selected.
func Build(c Credentials) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = c.Server
	cluster.CertificateAuthorityData = c.CAData
	cfg.Clusters[c.ClusterName] = cluster
	user := clientcmdapi.NewAuthInfo()
	user.ClientCertificateData = c.ClientCertData
	user.ClientKeyData = c.ClientKeyData
	user.Token = c.Token
	cfg.AuthInfos[c.UserName] = user
	ctxName := c.UserName + "@" + c.ClusterName
	kctx := clientcmdapi.NewContext()
	kctx.Cluster = c.ClusterName
	kctx.AuthInfo = c.UserName
	cfg.Contexts[ctxName] = kctx
	cfg.CurrentContext = ctxName
	return cfg
}

// Write stores c as a kubeconfig at path (mode 0600), atomically.
func Write(path string, c Credentials) error {
	return WriteConfig(path, *Build(c))
}

// WriteConfig stores cfg at path (mode 0600) through a temporary file and
// a rename, so a reader never sees half of it.
func WriteConfig(path string, cfg clientcmdapi.Config) error {
	data, err := clientcmd.Write(cfg)
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// RESTConfig loads a client-go configuration from the kubeconfig at path.
func RESTConfig(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// RESTConfigFromCredentials builds a client-go configuration directly.
func RESTConfigFromCredentials(c Credentials) (*rest.Config, error) {
	return clientcmd.NewDefaultClientConfig(*Build(c), nil).ClientConfig()
}
