package integration

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Everything acknowledged before a restart is there after it, and watches
// resume from a resourceVersion taken before it.
func TestRestartKeepsState(t *testing.T) {
	c := start(t)
	cms := c.client.CoreV1().ConfigMaps("default")
	var last string
	for i := 0; i < 20; i++ {
		cm, err := cms.Create(ctx(t), configMap(fmt.Sprintf("keep-%d", i), map[string]string{"i": fmt.Sprint(i)}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last = cm.ResourceVersion
	}
	svc, err := c.client.CoreV1().Services("default").Create(ctx(t), service("keep-svc", "NodePort"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	caBefore := string(c.Server.CACertPEM())

	c.Restart()
	c = newCluster(t, c.TestServer)
	cms = c.client.CoreV1().ConfigMaps("default")

	if string(c.Server.CACertPEM()) != caBefore {
		t.Fatal("restart made a new cluster CA")
	}
	list, err := cms.List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 20 {
		t.Fatalf("%d configmaps after restart, want 20", len(list.Items))
	}
	got, err := c.client.CoreV1().Services("default").Get(ctx(t), "keep-svc", metav1.GetOptions{})
	if err != nil || got.Spec.ClusterIP != svc.Spec.ClusterIP || got.Spec.Ports[0].NodePort != svc.Spec.Ports[0].NodePort {
		t.Fatalf("service after restart: %+v %v", got, err)
	}
	// The allocation survived too: the same IP cannot be taken again.
	clash := service("clash", "ClusterIP")
	clash.Spec.ClusterIP = svc.Spec.ClusterIP
	if _, err := c.client.CoreV1().Services("default").Create(ctx(t), clash, metav1.CreateOptions{}); err == nil {
		t.Fatal("allocated IP handed out again after restart")
	}
	// A new write is seen by a watch from the pre-restart revision, or the
	// watch is told to relist (410): never silently skipped.
	w, err := cms.Watch(ctx(t), metav1.ListOptions{ResourceVersion: last})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := cms.Create(ctx(t), configMap("after", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w.ResultChan():
		if ev.Type != "ADDED" && ev.Type != "ERROR" {
			t.Fatalf("event %v", ev.Type)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
}
