package testserver

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRestartKeepsTheDataAndTheAddress(t *testing.T) {
	ts := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kept"}, Data: map[string]string{"k": "v"}}
	if _, err := ts.Client().CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	url, pid := ts.URL(), ts.Process().PID()

	ts.Restart()
	if ts.URL() != url || ts.Config.Host != url {
		t.Errorf("after a restart the apiserver is at %s (config: %s), was at %s", ts.URL(), ts.Config.Host, url)
	}
	if ts.Process().PID() == pid {
		t.Errorf("Restart kept process %d", pid)
	}
	got, err := ts.Client().CoreV1().ConfigMaps("default").Get(ctx, "kept", metav1.GetOptions{})
	if err != nil || got.Data["k"] != "v" {
		t.Fatalf("configmap after the restart: %v %v", got, err)
	}
}
