package endpoints

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	"k8s.io/apimachinery/pkg/util/proxy"
)

// DefaultKubeletPort is where a kubelet serves when its Node does not say.
const DefaultKubeletPort = 10250

// defaultContainerAnnotation names the container logs and exec use when a
// pod has several and the request names none, as kubectl sets it.
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// kubeletTarget resolves the pod's container and the kubelet that runs it.
func (r *request) kubeletTarget() (*corev1.Pod, string, *url.URL, error) {
	return r.kubeletTargetOf(r.c.Query("container"), true)
}

// kubeletTargetOf resolves the pod, the container named (or the pod's
// only one) when withContainer, and the kubelet that runs the pod.
func (r *request) kubeletTargetOf(name string, withContainer bool) (*corev1.Pod, string, *url.URL, error) {
	obj, err := r.store.Get(r.ctx(), r.info.Namespace, r.info.Name)
	if err != nil {
		return nil, "", nil, err
	}
	pod := obj.(*corev1.Pod)
	container := ""
	if withContainer {
		if container, err = podContainer(pod, name); err != nil {
			return nil, "", nil, err
		}
	}
	if pod.Spec.NodeName == "" {
		return nil, "", nil, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	nodes := r.storeOf("", "v1", "nodes")
	if nodes == nil {
		return nil, "", nil, apierrors.NewInternalError(fmt.Errorf("nodes are not served"))
	}
	nodeObj, err := nodes.Get(r.ctx(), "", pod.Spec.NodeName)
	if err != nil {
		return nil, "", nil, err
	}
	base, err := kubeletURL(nodeObj.(*corev1.Node))
	if err != nil {
		return nil, "", nil, err
	}
	return pod, container, base, nil
}

// podContainer picks the container a log or exec request means.
func podContainer(pod *corev1.Pod, name string) (string, error) {
	all := map[string]bool{}
	var names []string
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		all[c.Name] = true
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		all[c.Name] = true
		names = append(names, c.Name)
	}
	if name != "" {
		if !all[name] {
			return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
		}
		return name, nil
	}
	if def := pod.Annotations[defaultContainerAnnotation]; def != "" && all[def] {
		return def, nil
	}
	if len(pod.Spec.Containers) == 1 {
		return pod.Spec.Containers[0].Name, nil
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, strings.Join(names, " ")))
}

// kubeletURL is the base URL of the node's kubelet: its InternalIP (else
// another address) and the port it reports.
func kubeletURL(node *corev1.Node) (*url.URL, error) {
	host := ""
	for _, want := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range node.Status.Addresses {
			if a.Type == want && host == "" {
				host = a.Address
			}
		}
	}
	if host == "" {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("node %s has no address to reach its kubelet", node.Name))
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = DefaultKubeletPort
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(port))}, nil
}

// logOptionParams are the pods/log query parameters the kubelet takes as is.
var logOptionParams = []string{"follow", "previous", "tailLines", "sinceSeconds", "sinceTime", "timestamps", "limitBytes"}

// servePodLog streams a container's log from its kubelet (pods/log).
func (r *request) servePodLog() {
	if r.info.Verb != VerbGet {
		r.fail(methodNotSupported(r.desc.GroupResource(), r.info.Verb))
		return
	}
	if r.api.opts.KubeletTransport == nil {
		r.fail(apierrors.NewServiceUnavailable("this apiserver has no kubelet client"))
		return
	}
	pod, container, target, err := r.kubeletTarget()
	if err != nil {
		r.fail(err)
		return
	}
	q := url.Values{}
	for _, p := range logOptionParams {
		if v := r.c.Query(p); v != "" {
			q.Set(p, v)
		}
	}
	target.Path = fmt.Sprintf("/containerLogs/%s/%s/%s", pod.Namespace, pod.Name, container)
	target.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(r.ctx(), http.MethodGet, target.String(), nil)
	if err != nil {
		r.fail(apierrors.NewInternalError(err))
		return
	}
	resp, err := (&http.Client{Transport: r.api.opts.KubeletTransport}).Do(req)
	if err != nil {
		r.fail(apierrors.NewServiceUnavailable(fmt.Sprintf("get logs from the kubelet of node %s: %v", pod.Spec.NodeName, err)))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		r.fail(kubeletError(resp.StatusCode, body))
		return
	}
	if wsstream.IsWebSocketRequest(r.c.Request) {
		// A WebSocket client (a browser, the conformance test) gets the
		// log as WebSocket messages, as from Kubernetes' apiserver:
		// binary frames by default or with binary.k8s.io, base64 text
		// with base64.binary.k8s.io. The kubelet answered first, so its
		// errors still come back as an HTTP Status before any upgrade.
		ws := wsstream.NewReader(&dataThenEnd{r: resp.Body}, true, wsstream.NewDefaultReaderProtocols())
		if err := ws.Copy(r.c.Writer, r.c.Request); err != nil {
			r.api.log.Debug("log stream over WebSocket ended", zap.String("pod", pod.Namespace+"/"+pod.Name), zap.Error(err))
		}
		return
	}
	w := r.c.Writer
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	buf := make([]byte, 32*1024)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			w.Flush()
		}
		if err != nil {
			return
		}
	}
}

// dataThenEnd hands out a reader's data and its end in separate reads:
// wsstream's copier drops the bytes of a read that also returns io.EOF,
// which is how the kubelet's answer of a short log ends.
type dataThenEnd struct {
	r   io.Reader
	err error // the end, once the data read with it is handed out
}

func (d *dataThenEnd) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.r.Read(p)
	if n > 0 && err != nil {
		d.err = err
		return n, nil
	}
	return n, err
}

// kubeletError turns a kubelet's error answer into a Status.
func kubeletError(code int, body []byte) error {
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = http.StatusText(code)
	}
	reason := metav1.StatusReasonUnknown
	switch code {
	case http.StatusNotFound:
		reason = metav1.StatusReasonNotFound
	case http.StatusBadRequest:
		reason = metav1.StatusReasonBadRequest
	case http.StatusUnauthorized, http.StatusForbidden:
		reason = metav1.StatusReasonForbidden
	}
	return statusError(code, reason, msg)
}

// servePodExec proxies an exec stream to the pod's kubelet (pods/exec):
// the client's WebSocket upgrade goes through to the kubelet, which speaks
// Kubernetes' remote-command protocol.
func (r *request) servePodExec() {
	if r.info.Verb != VerbGet && r.info.Verb != VerbCreate {
		r.fail(methodNotSupported(r.desc.GroupResource(), r.info.Verb))
		return
	}
	if r.api.opts.KubeletTransport == nil {
		r.fail(apierrors.NewServiceUnavailable("this apiserver has no kubelet client"))
		return
	}
	q := r.c.Request.URL.Query()
	if len(q["command"]) == 0 {
		r.fail(apierrors.NewBadRequest("you must specify at least 1 command"))
		return
	}
	pod, container, target, err := r.kubeletTarget()
	if err != nil {
		r.fail(err)
		return
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		r.fail(apierrors.NewBadRequest(fmt.Sprintf("cannot exec into a container in a completed pod; current phase is %s", pod.Status.Phase)))
		return
	}
	opts := &corev1.PodExecOptions{
		Container: container, Command: q["command"],
		Stdin: isTrue(q.Get("stdin")), Stdout: isTrue(q.Get("stdout")), Stderr: isTrue(q.Get("stderr")), TTY: isTrue(q.Get("tty")),
	}
	if !r.connectAllowed(opts) {
		return
	}
	// The kubelet names the streams input/output/error, as in Kubernetes.
	kq := url.Values{"command": q["command"]}
	for from, to := range map[string]string{"stdin": "input", "stdout": "output", "stderr": "error", "tty": "tty"} {
		if isTrue(q.Get(from)) {
			kq.Set(to, "1")
		}
	}
	target.Path = fmt.Sprintf("/exec/%s/%s/%s", pod.Namespace, pod.Name, container)
	target.RawQuery = kq.Encode()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = target.Host
			// Our credential is the kubelet client certificate, not the
			// user's: drop what the client sent us.
			pr.Out.Header.Del("Authorization")
		},
		Transport:     r.api.opts.KubeletTransport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			r.api.log.Info("exec proxy failed", zap.String("pod", pod.Namespace+"/"+pod.Name), zap.Error(err))
			r.fail(apierrors.NewServiceUnavailable(fmt.Sprintf("exec on the kubelet of node %s: %v", pod.Spec.NodeName, err)))
		},
	}
	proxy.ServeHTTP(r.c.Writer, r.c.Request)
}

// servePodAttach connects to a running container's streams through its
// kubelet (pods/attach), as kubectl attach and kubectl run -i do: admitted
// as a CONNECT with the PodAttachOptions, then the client's SPDY or
// WebSocket upgrade goes through to the kubelet's /attach.
func (r *request) servePodAttach() {
	if r.info.Verb != VerbGet && r.info.Verb != VerbCreate {
		r.fail(methodNotSupported(r.desc.GroupResource(), r.info.Verb))
		return
	}
	q := r.c.Request.URL.Query()
	opts := &corev1.PodAttachOptions{
		Container: q.Get("container"),
		Stdin:     optionBool(q, "stdin"), Stdout: optionBool(q, "stdout"), Stderr: optionBool(q, "stderr"), TTY: optionBool(q, "tty"),
	}
	if !r.connectAllowed(opts) {
		return
	}
	pod, container, target, err := r.kubeletTargetOf(opts.Container, true)
	if err != nil {
		r.fail(err)
		return
	}
	target.Path = fmt.Sprintf("/attach/%s/%s/%s", pod.Namespace, pod.Name, container)
	target.RawQuery = streamQuery(opts.Stdin, opts.Stdout, opts.Stderr, opts.TTY).Encode()
	r.upgradeToKubelet(target)
}

// servePodPortForward tunnels connections to a pod's ports through its
// kubelet (pods/portforward), as kubectl port-forward does: admitted as a
// CONNECT with the PodPortForwardOptions, then the upgrade goes through
// to the kubelet's /portForward.
func (r *request) servePodPortForward() {
	if r.info.Verb != VerbGet && r.info.Verb != VerbCreate {
		r.fail(methodNotSupported(r.desc.GroupResource(), r.info.Verb))
		return
	}
	ports, err := portsOption(r.c.Request.URL.Query()["ports"])
	if err != nil {
		r.fail(apierrors.NewBadRequest(err.Error()))
		return
	}
	opts := &corev1.PodPortForwardOptions{Ports: ports}
	if !r.connectAllowed(opts) {
		return
	}
	pod, _, target, err := r.kubeletTargetOf("", false)
	if err != nil {
		r.fail(err)
		return
	}
	target.Path = fmt.Sprintf("/portForward/%s/%s", pod.Namespace, pod.Name)
	if len(ports) > 0 {
		s := make([]string, len(ports))
		for i, p := range ports {
			s[i] = strconv.Itoa(int(p))
		}
		target.RawQuery = url.Values{corev1.PortHeader: {strings.Join(s, ",")}}.Encode()
	}
	r.upgradeToKubelet(target)
}

// upgradeToKubelet proxies the request's connection upgrade to target on
// a kubelet; a request that asks for none is refused, as Kubernetes'
// streaming subresources refuse it, and a kubelet's refusal goes back to
// the client as it is.
func (r *request) upgradeToKubelet(target *url.URL) {
	if r.api.opts.KubeletTransport == nil {
		r.fail(apierrors.NewServiceUnavailable("this apiserver has no kubelet client"))
		return
	}
	h := proxy.NewUpgradeAwareHandler(target, r.api.opts.KubeletTransport, false, true, proxyResponder{r})
	h.ServeHTTP(r.c.Writer, r.outbound())
}

// streamQuery names the streams a kubelet opens: input, output, error
// and tty, as Kubernetes' kubelet takes them.
func streamQuery(stdin, stdout, stderr, tty bool) url.Values {
	q := url.Values{}
	for _, s := range []struct {
		on   bool
		name string
	}{{stdin, corev1.ExecStdinParam}, {stdout, corev1.ExecStdoutParam}, {stderr, corev1.ExecStderrParam}, {tty, corev1.ExecTTYParam}} {
		if s.on {
			q.Set(s.name, "1")
		}
	}
	return q
}

// optionBool reads a boolean option from the query as Kubernetes'
// parameter codec does: present and neither "0" nor "false" is true.
func optionBool(q url.Values, name string) bool {
	v, ok := q[name]
	if !ok || len(v) == 0 {
		return false
	}
	return v[0] != "0" && !strings.EqualFold(v[0], "false")
}

// portsOption reads PodPortForwardOptions' ports: repeated, or
// comma-separated, each a 16-bit port number.
func portsOption(values []string) ([]int32, error) {
	var ports []int32
	for _, s := range values {
		for _, v := range strings.Split(s, ",") {
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("cannot convert to []int32: %v", err)
			}
			ports = append(ports, int32(n))
		}
	}
	return ports, nil
}

// connectAllowed admits a CONNECT of pods' exec, attach or portforward
// with its options, then authorizes a WebSocket upgrade (a GET) again as
// create; false when refused, the answer written.
func (r *request) connectAllowed(opts runtime.Object) bool {
	if err := r.admitConnect(opts); err != nil {
		r.fail(err)
		return false
	}
	if err := r.authorizeCreate(); err != nil {
		r.fail(err)
		return false
	}
	return true
}
