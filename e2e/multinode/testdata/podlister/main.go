// Command podlister runs inside a pod of the multinode test: with the
// ServiceAccount credential the kubelet mounts (rest.InClusterConfig: the
// token, ca.crt and the KUBERNETES_SERVICE_* variables), it lists the
// pods of its namespace once a second and prints ALLOWED <count> or
// FORBIDDEN, which the test reads from its log.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func main() {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		fmt.Println("NOCONFIG", err)
		os.Exit(1)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Println("NOCLIENT", err)
		os.Exit(1)
	}
	ns, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	if err != nil {
		fmt.Println("NONAMESPACE", err)
		os.Exit(1)
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		pods, err := client.CoreV1().Pods(string(ns)).List(ctx, metav1.ListOptions{})
		cancel()
		switch {
		case err == nil:
			fmt.Println("ALLOWED", len(pods.Items))
		case apierrors.IsForbidden(err):
			fmt.Println("FORBIDDEN", err)
		default:
			fmt.Println("ERROR", err)
		}
		time.Sleep(time.Second)
	}
}
