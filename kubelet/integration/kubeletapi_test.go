package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"coracle.dev/shared/pki"
)

// apiClient returns credentials for the kubelet API as the apiserver has
// them: a client certificate from the cluster CA (with groups), and no
// verification of the kubelet's self-signed serving certificate.
func (n *node) apiClient(cn string, groups ...string) (*http.Client, *rest.Config) {
	n.t.Helper()
	ca, err := pki.Load(filepath.Join(n.ts.DataDir, "pki"), "ca")
	if err != nil {
		n.t.Fatalf("cluster CA: %v", err)
	}
	kp, err := ca.Issue(pki.Request{CommonName: cn, Organization: groups, Usage: pki.ClientUsage})
	if err != nil {
		n.t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		n.t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true}}}
	cfg := &rest.Config{
		Host:            "https://" + n.kubelet.Addr(),
		TLSClientConfig: rest.TLSClientConfig{Insecure: true, CertData: kp.CertPEM, KeyData: kp.KeyPEM},
	}
	return hc, cfg
}

func (n *node) masterClient() (*http.Client, *rest.Config) {
	return n.apiClient("kube-apiserver-kubelet-client", "system:masters")
}

// logs reads a container's log through the kubelet API.
func (n *node) logs(pod, container, query string) string {
	n.t.Helper()
	hc, _ := n.masterClient()
	u := fmt.Sprintf("https://%s/containerLogs/%s/%s/%s?%s", n.kubelet.Addr(), n.ns, pod, container, query)
	resp, err := hc.Get(u)
	if err != nil {
		n.t.Fatalf("logs: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		n.t.Fatalf("logs %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}

// waitLog waits until the container's log contains want.
func (n *node) waitLog(pod, container, want string) string {
	n.t.Helper()
	var got string
	eventually(n.t, 30*time.Second, fmt.Sprintf("%s/%s log to contain %q", pod, container, want), func() (bool, error) {
		got = n.logs(pod, container, "")
		return strings.Contains(got, want), fmt.Errorf("log: %q", got)
	})
	return got
}

// execResult is what an exec returned.
type execResult struct {
	stdout, stderr string
	err            error
}

// exec runs a command through the kubelet API with client-go's WebSocket
// executor.
func (n *node) exec(pod, container string, stdin string, tty bool, command ...string) execResult {
	n.t.Helper()
	_, cfg := n.masterClient()
	q := url.Values{}
	for _, c := range command {
		q.Add("command", c)
	}
	q.Set("output", "1")
	if !tty {
		q.Set("error", "1")
	}
	if stdin != "" {
		q.Set("input", "1")
	}
	if tty {
		q.Set("tty", "1")
	}
	u := fmt.Sprintf("https://%s/exec/%s/%s/%s?%s", n.kubelet.Addr(), n.ns, pod, container, q.Encode())
	ex, err := remotecommand.NewWebSocketExecutorForProtocols(cfg, "GET", u, "v5.channel.k8s.io", "v4.channel.k8s.io")
	if err != nil {
		n.t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	opts := remotecommand.StreamOptions{Stdout: &out, Tty: tty}
	if !tty {
		opts.Stderr = &errOut
	}
	if stdin != "" {
		opts.Stdin = strings.NewReader(stdin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = ex.StreamWithContext(ctx, opts)
	return execResult{stdout: out.String(), stderr: errOut.String(), err: err}
}

var _ = testing.T{}

func insecureTransport() *http.Transport {
	return &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
}
