package bootstrap

import (
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestClusterInfoKubeconfig(t *testing.T) {
	ca := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	data, err := ClusterInfoKubeconfig("https://10.0.0.10:6443", ca)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"apiVersion: v1\n", "kind: Config\n", "name: \"\"\n", "server: https://10.0.0.10:6443\n"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("kubeconfig lacks %q:\n%s", want, data)
		}
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 0 || len(cfg.Contexts) != 0 || cfg.CurrentContext != "" {
		t.Fatalf("want one cluster and nothing else, got %+v", cfg)
	}
	c := cfg.Clusters[""]
	if c == nil || c.Server != "https://10.0.0.10:6443" || string(c.CertificateAuthorityData) != string(ca) {
		t.Fatalf("cluster %+v", c)
	}
}
