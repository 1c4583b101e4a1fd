package integration

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"coracle.dev/apiserver/internal/servertest"
	"coracle.dev/apiserver/server"
)

// clusterInfo reads kube-public/cluster-info anonymously, as a joining
// node does, and the cluster its kubeconfig describes.
func clusterInfo(t *testing.T, c *cluster) (*corev1.ConfigMap, string, []byte) {
	t.Helper()
	var cm corev1.ConfigMap
	eventually(t, 30*time.Second, "cluster-info", func() (bool, error) {
		r := doWith(t, c.anonymous(t), c.Server.URL(), http.MethodGet, "/api/v1/namespaces/kube-public/configmaps/cluster-info", "", nil, nil)
		if r.code != http.StatusOK {
			return false, nil
		}
		return true, json.Unmarshal(r.body, &cm)
	})
	cfg, err := clientcmd.Load([]byte(cm.Data["kubeconfig"]))
	if err != nil {
		t.Fatalf("cluster-info kubeconfig: %v", err)
	}
	if len(cfg.Clusters) != 1 || cfg.Clusters[""] == nil || len(cfg.AuthInfos) != 0 || len(cfg.Contexts) != 0 {
		t.Fatalf("cluster-info kubeconfig is not one cluster named \"\": %s", cm.Data["kubeconfig"])
	}
	return &cm, cfg.Clusters[""].Server, cfg.Clusters[""].CertificateAuthorityData
}

func TestClusterInfo(t *testing.T) {
	port := freePort(t)
	c := start(t, servertest.WithConfig(func(cfg *server.Config) { cfg.SecurePort = port }))
	cm, srv, ca := clusterInfo(t, c)
	want := "https://" + net.JoinHostPort(c.Server.AdvertiseAddress(), strconv.Itoa(port))
	if srv != want || string(ca) != string(c.Server.CACertPEM()) {
		t.Fatalf("cluster-info: server %q (want %q), CA matches: %v", srv, want, string(ca) == string(c.Server.CACertPEM()))
	}

	// The bootstrap signer adds its signatures beside the kubeconfig.
	cm.Data["jws-kubeconfig-abcdef"] = "header..signature"
	if _, err := c.client.CoreV1().ConfigMaps("kube-public").Update(ctx(t), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	signed, err := c.client.CoreV1().ConfigMaps("kube-public").Get(ctx(t), "cluster-info", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// A restart with nothing changed writes nothing.
	c.Restart()
	c = newCluster(t, c.TestServer)
	again, _, _ := clusterInfo(t, c)
	if again.ResourceVersion != signed.ResourceVersion {
		t.Errorf("restart rewrote an unchanged cluster-info: %s -> %s", signed.ResourceVersion, again.ResourceVersion)
	}

	// A new address is published; the signatures stay for the signer to
	// replace.
	c.Cfg.AdvertiseAddress = "127.0.0.1"
	c.Restart()
	c = newCluster(t, c.TestServer)
	moved, srv, _ := clusterInfo(t, c)
	if want := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)); srv != want {
		t.Errorf("after a new advertise address, server %q, want %q", srv, want)
	}
	if moved.Data["jws-kubeconfig-abcdef"] != "header..signature" {
		t.Errorf("the update dropped the other keys: %v", moved.Data)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
