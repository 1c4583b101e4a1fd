package integration

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/servertest"
	"coracle.dev/apiserver/server"
)

const (
	protobufType       = "application/vnd.kubernetes.protobuf"
	protobufWatchType  = protobufType + ";stream=watch"
	protobufThenJSON   = protobufType + ",application/json"
	metadataListAccept = protobufType + ";as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
)

// contentTypes records the Content-Type of every response a client gets.
type contentTypes struct {
	mu   sync.Mutex
	seen []string // "GET /path?query 200 content-type"
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (ct *contentTypes) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err == nil {
			ct.mu.Lock()
			ct.seen = append(ct.seen, fmt.Sprintf("%s %s %d %s", req.Method, req.URL.RequestURI(), resp.StatusCode, resp.Header.Get("Content-Type")))
			ct.mu.Unlock()
		}
		return resp, err
	})
}

// allProtobuf fails t unless every response recorded was protobuf: a
// watch stream as application/vnd.kubernetes.protobuf;stream=watch, any
// other answer (errors too) as application/vnd.kubernetes.protobuf.
func (ct *contentTypes) allProtobuf(t *testing.T) {
	t.Helper()
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if len(ct.seen) == 0 {
		t.Fatal("no responses recorded")
	}
	for _, s := range ct.seen {
		want := " " + protobufType
		if strings.Contains(s, "watch=true") {
			want = " " + protobufWatchType
		}
		if !strings.HasSuffix(s, want) {
			t.Errorf("response not protobuf: %s", s)
		}
	}
}

// protobufConfig is c's admin config set up as kube's own components and
// the conformance suite configure client-go: protobuf bodies, protobuf
// preferred over JSON in answers.
func protobufConfig(c *cluster) (*rest.Config, *contentTypes) {
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = protobufThenJSON
	ct := &contentTypes{}
	cfg.WrapTransport = ct.wrap
	return cfg, ct
}

// Every verb of pods, services, deployments and configmaps, their
// subresources (status, scale, binding, eviction), a TokenRequest and a
// review, and their errors, through a typed clientset that asks for
// protobuf: every answer comes back in protobuf and decodes.
func TestProtobufClientCRUD(t *testing.T) {
	c := start(t)
	cfg, seen := protobufConfig(c)
	client := kubernetes.NewForConfigOrDie(cfg)
	const ns = "default"

	cms := client.CoreV1().ConfigMaps(ns)
	cm, err := cms.Create(ctx(t), configMap("pb-cm", map[string]string{"a": "1"}), metav1.CreateOptions{})
	if err != nil || cm.UID == "" || cm.Data["a"] != "1" {
		t.Fatalf("create configmap: %+v %v", cm, err)
	}
	_, err = cms.Create(ctx(t), configMap("pb-cm", nil), metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second create: %v, want AlreadyExists", err)
	}
	if st := err.(apierrors.APIStatus).Status(); st.Code != http.StatusConflict || st.Details == nil || st.Details.Name != "pb-cm" || st.Details.Kind != "configmaps" {
		t.Fatalf("AlreadyExists status %+v", st)
	}
	got, err := cms.Get(ctx(t), "pb-cm", metav1.GetOptions{})
	if err != nil || got.UID != cm.UID {
		t.Fatalf("get configmap: %+v %v", got, err)
	}
	got.Data["a"] = "2"
	if got, err = cms.Update(ctx(t), got, metav1.UpdateOptions{}); err != nil || got.Data["a"] != "2" {
		t.Fatalf("update configmap: %+v %v", got, err)
	}
	if _, err = cms.Update(ctx(t), cm, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("update at a stale resourceVersion: %v, want Conflict", err)
	}
	if got, err = cms.Patch(ctx(t), "pb-cm", types.MergePatchType, []byte(`{"data":{"b":"3"}}`), metav1.PatchOptions{}); err != nil || got.Data["b"] != "3" || got.Data["a"] != "2" {
		t.Fatalf("merge patch configmap: %+v %v", got, err)
	}
	_, err = cms.Get(ctx(t), "missing", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("get missing: %v, want NotFound", err)
	}
	if st := err.(apierrors.APIStatus).Status(); st.Message != `configmaps "missing" not found` || st.Details == nil || st.Details.Name != "missing" {
		t.Fatalf("NotFound status %+v", st)
	}
	for _, name := range []string{"pb-x", "pb-y"} {
		obj := configMap(name, nil)
		obj.Labels = map[string]string{"batch": "pb"}
		if _, err := cms.Create(ctx(t), obj, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := cms.List(ctx(t), metav1.ListOptions{LabelSelector: "batch=pb"})
	if err != nil || len(list.Items) != 2 || list.ResourceVersion == "" {
		t.Fatalf("list configmaps: %+v %v", list, err)
	}
	if err := cms.DeleteCollection(ctx(t), metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "batch=pb"}); err != nil {
		t.Fatalf("delete collection: %v", err)
	}
	// A configmap's DELETE answers with a Status.
	if err := cms.Delete(ctx(t), "pb-cm", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete configmap: %v", err)
	}
	if list, err = cms.List(ctx(t), metav1.ListOptions{}); err != nil || len(list.Items) != 0 {
		t.Fatalf("configmaps left: %+v %v", list, err)
	}

	pods := client.CoreV1().Pods(ns)
	p, err := pods.Create(ctx(t), pod("pb-pod"), metav1.CreateOptions{})
	if err != nil || p.Spec.Containers[0].Image != "busybox:1.36" {
		t.Fatalf("create pod: %+v %v", p, err)
	}
	if p, err = pods.Patch(ctx(t), "pb-pod", types.StrategicMergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{}); err != nil || p.Labels["x"] != "y" {
		t.Fatalf("strategic merge patch pod: %+v %v", p, err)
	}
	p.Status.Message = "from protobuf"
	if p, err = pods.UpdateStatus(ctx(t), p, metav1.UpdateOptions{}); err != nil || p.Status.Message != "from protobuf" {
		t.Fatalf("update pod status: %+v %v", p, err)
	}
	if err := pods.Bind(ctx(t), &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "pb-pod"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if p, err = pods.Get(ctx(t), "pb-pod", metav1.GetOptions{}); err != nil || p.Spec.NodeName != "n1" {
		t.Fatalf("bound pod: %+v %v", p, err)
	}
	if err := pods.EvictV1(ctx(t), &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "pb-pod", Namespace: ns}}); err != nil {
		t.Fatalf("evict: %v", err)
	}
	if p, err = pods.Get(ctx(t), "pb-pod", metav1.GetOptions{}); err != nil || p.DeletionTimestamp == nil {
		t.Fatalf("evicted pod: %+v %v", p, err)
	}
	// A pod's DELETE answers with the pod.
	if err := pods.Delete(ctx(t), "pb-pod", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatalf("delete pod: %v", err)
	}
	eventually(t, 10*time.Second, "the pod gone", func() (bool, error) {
		_, err := pods.Get(ctx(t), "pb-pod", metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})

	svcs := client.CoreV1().Services(ns)
	svc, err := svcs.Create(ctx(t), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "pb-svc"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "pb"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil || svc.Spec.ClusterIP == "" {
		t.Fatalf("create service: %+v %v", svc, err)
	}
	svc.Labels = map[string]string{"tier": "web"}
	if svc, err = svcs.Update(ctx(t), svc, metav1.UpdateOptions{}); err != nil || svc.Labels["tier"] != "web" {
		t.Fatalf("update service: %+v %v", svc, err)
	}
	if svcList, err := svcs.List(ctx(t), metav1.ListOptions{LabelSelector: "tier=web"}); err != nil || len(svcList.Items) != 1 {
		t.Fatalf("list services: %+v %v", svcList, err)
	}
	if err := svcs.Delete(ctx(t), "pb-svc", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete service: %v", err)
	}

	deps := client.AppsV1().Deployments(ns)
	d, err := deps.Create(ctx(t), deployment("pb-dep", 2), metav1.CreateOptions{})
	if err != nil || *d.Spec.Replicas != 2 {
		t.Fatalf("create deployment: %+v %v", d, err)
	}
	scale, err := deps.GetScale(ctx(t), "pb-dep", metav1.GetOptions{})
	if err != nil || scale.Spec.Replicas != 2 || scale.Name != "pb-dep" {
		t.Fatalf("get scale: %+v %v", scale, err)
	}
	scale.Spec.Replicas = 3
	if scale, err = deps.UpdateScale(ctx(t), "pb-dep", scale, metav1.UpdateOptions{}); err != nil || scale.Spec.Replicas != 3 {
		t.Fatalf("update scale: %+v %v", scale, err)
	}
	if d, err = deps.Patch(ctx(t), "pb-dep", types.JSONPatchType, []byte(`[{"op":"replace","path":"/spec/replicas","value":4}]`), metav1.PatchOptions{}); err != nil || *d.Spec.Replicas != 4 {
		t.Fatalf("json patch deployment: %+v %v", d, err)
	}
	d.Status.ObservedGeneration = d.Generation
	if d, err = deps.UpdateStatus(ctx(t), d, metav1.UpdateOptions{}); err != nil || d.Status.ObservedGeneration != d.Generation {
		t.Fatalf("update deployment status: %+v %v", d, err)
	}
	if depList, err := deps.List(ctx(t), metav1.ListOptions{}); err != nil || len(depList.Items) != 1 {
		t.Fatalf("list deployments: %+v %v", depList, err)
	}
	if err := deps.Delete(ctx(t), "pb-dep", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete deployment: %v", err)
	}
	if _, err := deps.Get(ctx(t), "pb-dep", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("deleted deployment: %v, want NotFound", err)
	}

	if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx(t), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "pb-sa"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := client.CoreV1().ServiceAccounts(ns).CreateToken(ctx(t), "pb-sa", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil || tr.Status.Token == "" {
		t.Fatalf("token request: %+v %v", tr, err)
	}
	review, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx(t), &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/", Verb: "get"}},
	}, metav1.CreateOptions{})
	if err != nil || !review.Status.Allowed {
		t.Fatalf("review: %+v %v", review, err)
	}

	seen.allProtobuf(t)
}

// Watches in protobuf: initial events and the bookmark that ends them,
// ADDED, MODIFIED, DELETED, periodic bookmarks, the 410 of a too old
// resourceVersion; and informers, typed and metadata-only, built on them.
func TestProtobufWatchAndInformers(t *testing.T) {
	c := start(t, servertest.WithConfig(func(cfg *server.Config) {
		cfg.WatchCacheSize = 8
		cfg.WatchBookmarkInterval = 200 * time.Millisecond
	}))
	cfg, seen := protobufConfig(c)
	client := kubernetes.NewForConfigOrDie(cfg)
	cms := client.CoreV1().ConfigMaps("default")
	if _, err := cms.Create(ctx(t), configMap("w-before", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	w, err := cms.Watch(ctx(t), metav1.ListOptions{
		AllowWatchBookmarks: true, SendInitialEvents: ptr.To(true),
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if e := nextWatchEvent(t, w); e.Type != watch.Added || e.Object.(*corev1.ConfigMap).Name != "w-before" {
		t.Fatalf("initial event %s %+v", e.Type, e.Object)
	}
	if e := nextWatchEvent(t, w); e.Type != watch.Bookmark || e.Object.(*corev1.ConfigMap).Annotations[metav1.InitialEventsAnnotationKey] != "true" {
		t.Fatalf("want the initial-events-end bookmark, got %s %+v", e.Type, e.Object)
	}
	cm, err := cms.Create(ctx(t), configMap("w-live", map[string]string{"n": "0"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["n"] = "1"
	if _, err := cms.Update(ctx(t), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx(t), "w-live", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var lastRV string
	for _, want := range []watch.EventType{watch.Added, watch.Modified, watch.Deleted} {
		e := nextNonBookmark(t, w)
		got, ok := e.Object.(*corev1.ConfigMap)
		if e.Type != want || !ok || got.Name != "w-live" {
			t.Fatalf("event %s %+v, want %s of w-live", e.Type, e.Object, want)
		}
		if want == watch.Modified && got.Data["n"] != "1" {
			t.Fatalf("modified object %+v", got)
		}
		lastRV = got.ResourceVersion
	}
	// The periodic bookmark, at or past the last event.
	deadline := time.After(20 * time.Second)
	for bookmarked := false; !bookmarked; {
		select {
		case e, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed")
			}
			if e.Type == watch.Bookmark {
				rv := e.Object.(*corev1.ConfigMap).ResourceVersion
				bookmarked = len(rv) > len(lastRV) || (len(rv) == len(lastRV) && rv >= lastRV)
			}
		case <-deadline:
			t.Fatal("no bookmark")
		}
	}

	// A resourceVersion older than the cache's ring: the stream's one
	// event is the 410, a Status in protobuf.
	old, err := cms.Create(ctx(t), configMap("w-old", map[string]string{"n": "0"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		if _, err := cms.Patch(ctx(t), "w-old", types.MergePatchType, []byte(fmt.Sprintf(`{"data":{"n":"%d"}}`, i)), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	gone, err := cms.Watch(ctx(t), metav1.ListOptions{ResourceVersion: old.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Stop()
	e := nextWatchEvent(t, gone)
	if st, ok := e.Object.(*metav1.Status); e.Type != watch.Error || !ok || st.Code != http.StatusGone || st.Reason != metav1.StatusReasonExpired {
		t.Fatalf("too old a watch: %s %+v", e.Type, e.Object)
	}

	// A typed informer syncs and follows pods.
	factory := informers.NewSharedInformerFactory(client, 0)
	podInformer := factory.Core().V1().Pods().Informer()
	events := &eventLog{}
	if _, err := podInformer.AddEventHandler(events.handlers()); err != nil {
		t.Fatal(err)
	}
	// A metadata informer (the garbage collector's and namespace
	// controller's kind) follows configmaps as PartialObjectMetadata.
	metaFactory := metadatainformer.NewSharedInformerFactory(metadata.NewForConfigOrDie(cfg), 0)
	cmInformer := metaFactory.ForResource(corev1.SchemeGroupVersion.WithResource("configmaps")).Informer()
	metaEvents := &eventLog{}
	if _, err := cmInformer.AddEventHandler(metaEvents.handlers()); err != nil {
		t.Fatal(err)
	}
	pods := client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx(t), pod("inf-before"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	metaFactory.Start(stop)
	if !cache.WaitForCacheSync(stop, podInformer.HasSynced, cmInformer.HasSynced) {
		t.Fatal("informers never synced")
	}
	p, err := pods.Create(ctx(t), pod("inf-live"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Labels = map[string]string{"changed": "yes"}
	if _, err := pods.Update(ctx(t), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx(t), "inf-live", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx(t), configMap("inf-cm", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Patch(ctx(t), "inf-cm", types.MergePatchType, []byte(`{"metadata":{"labels":{"l":"1"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx(t), "inf-cm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "informer events", func() (bool, error) {
		return events.is("inf-before", "add") && events.is("inf-live", "add", "update", "delete") &&
			metaEvents.is("w-before", "add") && metaEvents.is("inf-cm", "add", "update", "delete"), nil
	})
	seen.allProtobuf(t)
}

// eventLog records the handler calls an informer makes, per object name.
type eventLog struct {
	mu     sync.Mutex
	byName map[string][]string
}

func (l *eventLog) handlers() cache.ResourceEventHandlerFuncs {
	record := func(kind string, obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		m, ok := obj.(metav1.Object)
		if !ok {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.byName == nil {
			l.byName = map[string][]string{}
		}
		l.byName[m.GetName()] = append(l.byName[m.GetName()], kind)
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { record("add", obj) },
		UpdateFunc: func(_, obj any) { record("update", obj) },
		DeleteFunc: func(obj any) { record("delete", obj) },
	}
}

func (l *eventLog) is(name string, kinds ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.byName[name], ",") == strings.Join(kinds, ",")
}

func nextWatchEvent(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case e, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed")
		}
		return e
	case <-time.After(20 * time.Second):
		t.Fatal("no watch event")
	}
	return watch.Event{}
}

func nextNonBookmark(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	for {
		if e := nextWatchEvent(t, w); e.Type != watch.Bookmark {
			return e
		}
	}
}

// The wire itself: Content-Types and the "k8s\x00" magic, errors in
// protobuf, what is not served in protobuf (Tables; custom resources but
// for their metadata) refused or answered in JSON as Kubernetes does, and
// JSON clients answered as before.
func TestProtobufOnTheWire(t *testing.T) {
	c := start(t)
	if _, err := c.client.CoreV1().ConfigMaps("default").Create(ctx(t), configMap("wire", map[string]string{"k": "v"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	get := func(path, accept string) response {
		t.Helper()
		return doWith(t, c.http, c.Server.URL(), http.MethodGet, path, "", nil, http.Header{"Accept": {accept}})
	}
	meta := runtime.NewScheme()
	metav1.AddMetaToScheme(meta)
	metaDecoder := protobuf.NewSerializer(meta, meta)
	decoder := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	decodeProtobuf := func(what string, r response, code int, dec runtime.Decoder) runtime.Object {
		t.Helper()
		if r.code != code || r.header.Get("Content-Type") != protobufType || !bytes.HasPrefix(r.body, []byte("k8s\x00")) {
			t.Fatalf("%s: %d %q %q, want %d in protobuf", what, r.code, r.header.Get("Content-Type"), r.body, code)
		}
		obj, _, err := dec.Decode(r.body, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return obj
	}
	const cm = "/api/v1/namespaces/default/configmaps"

	if obj, ok := decodeProtobuf("get", get(cm+"/wire", protobufType), http.StatusOK, decoder).(*corev1.ConfigMap); !ok || obj.Data["k"] != "v" {
		t.Fatalf("get in protobuf: %+v", obj)
	}
	if obj, ok := decodeProtobuf("list", get(cm, "application/json;q=0.5,"+protobufType), http.StatusOK, decoder).(*corev1.ConfigMapList); !ok || len(obj.Items) != 1 {
		t.Fatalf("list in protobuf: %+v", obj)
	}
	st, ok := decodeProtobuf("a 404", get(cm+"/missing", protobufThenJSON), http.StatusNotFound, decoder).(*metav1.Status)
	if !ok || st.Reason != metav1.StatusReasonNotFound || st.Code != http.StatusNotFound {
		t.Fatalf("404 in protobuf: %+v", st)
	}
	if list, ok := decodeProtobuf("metadata", get(cm, metadataListAccept), http.StatusOK, metaDecoder).(*metav1.PartialObjectMetadataList); !ok || len(list.Items) != 1 || list.Items[0].Name != "wire" {
		t.Fatalf("PartialObjectMetadataList in protobuf: %+v", list)
	}
	if r := get(cm+"/wire", "application/json"); r.code != http.StatusOK || r.header.Get("Content-Type") != "application/json" || !bytes.HasPrefix(r.body, []byte(`{"kind":"ConfigMap"`)) {
		t.Fatalf("JSON get: %d %q %s", r.code, r.header.Get("Content-Type"), r.body)
	}
	if r := get(cm+"/wire", "application/json;q=0.9,application/vnd.kubernetes.protobuf;q=0.5"); r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("JSON preferred: %q", r.header.Get("Content-Type"))
	}

	// Kubernetes serves Tables in JSON and YAML only.
	tablePB := protobufType + ";as=Table;v=v1;g=meta.k8s.io"
	r := get(cm, tablePB)
	if r.code != http.StatusNotAcceptable || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("Table in protobuf: %d %q %s", r.code, r.header.Get("Content-Type"), r.body)
	}
	if st := r.status(t); st.Message != "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf" {
		t.Fatalf("406 message %q", st.Message)
	}
	if r := get(cm, tablePB+",application/json;as=Table;v=v1;g=meta.k8s.io"); r.code != http.StatusOK || !bytes.Contains(r.body, []byte(`"kind":"Table"`)) {
		t.Fatalf("Table in JSON after protobuf: %d %s", r.code, r.body)
	}

	// A watch stream: length-prefixed WatchEvents.
	r = get(cm+"?watch=true&timeoutSeconds=1", protobufThenJSON)
	if r.code != http.StatusOK || r.header.Get("Content-Type") != protobufWatchType {
		t.Fatalf("watch: %d %q", r.code, r.header.Get("Content-Type"))
	}
	frames := r.body
	if len(frames) < 4 || int(binary.BigEndian.Uint32(frames)) != len(frames)-4 {
		t.Fatalf("watch stream is not one length-prefixed frame: %q", frames)
	}
	var ev metav1.WatchEvent
	if err := ev.Unmarshal(frames[4:]); err != nil {
		t.Fatal(err)
	}
	if obj, _, err := decoder.Decode(ev.Object.Raw, nil, nil); err != nil || ev.Type != "ADDED" || obj.(*corev1.ConfigMap).Name != "wire" {
		t.Fatalf("watch event %s %v %v", ev.Type, obj, err)
	}

	// Custom resources are JSON: a client that accepts only protobuf gets
	// 406 (in protobuf, as errors are written), one that accepts JSON too
	// gets JSON (and the dynamic client asks for JSON whatever its
	// config says); their metadata comes in protobuf.
	c.createCRD(t, widgetCRD())
	cfg, seen := protobufConfig(c)
	ws := dynamic.NewForConfigOrDie(cfg).Resource(widgets).Namespace("default")
	if _, err := ws.Create(ctx(t), widget("w1", map[string]any{"color": "red"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := ws.Get(ctx(t), "w1", metav1.GetOptions{}); err != nil || got.Object["spec"].(map[string]any)["size"] != "medium" {
		t.Fatalf("dynamic get: %v %v", got, err)
	}
	if list, err := ws.List(ctx(t), metav1.ListOptions{}); err != nil || len(list.Items) != 1 {
		t.Fatalf("dynamic list: %v %v", list, err)
	}
	const widgetPath = "/apis/stable.example.com/v1/namespaces/default/widgets"
	st, ok = decodeProtobuf("a custom resource in protobuf only", get(widgetPath+"/w1", protobufType), http.StatusNotAcceptable, decoder).(*metav1.Status)
	if !ok || st.Reason != metav1.StatusReasonNotAcceptable {
		t.Fatalf("406 for a custom resource: %+v", st)
	}
	if r := get(widgetPath+"/w1", protobufThenJSON); r.code != http.StatusOK || r.header.Get("Content-Type") != "application/json" || !bytes.Contains(r.body, []byte(`"kind":"Widget"`)) {
		t.Fatalf("custom resource, protobuf then JSON: %d %q %s", r.code, r.header.Get("Content-Type"), r.body)
	}
	if r := get(widgetPath+"?watch=true&timeoutSeconds=1", protobufThenJSON); r.code != http.StatusOK || r.header.Get("Content-Type") != "application/json" || !bytes.Contains(r.body, []byte(`"type":"ADDED"`)) {
		t.Fatalf("custom resource watch, protobuf then JSON: %d %q %s", r.code, r.header.Get("Content-Type"), r.body)
	}
	metaCfg, metaSeen := protobufConfig(c)
	widgetMeta, err := metadata.NewForConfigOrDie(metaCfg).Resource(widgets).Namespace("default").List(ctx(t), metav1.ListOptions{})
	if err != nil || len(widgetMeta.Items) != 1 || widgetMeta.Items[0].Name != "w1" {
		t.Fatalf("custom resources' metadata: %+v %v", widgetMeta, err)
	}
	if err := ws.Delete(ctx(t), "w1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	seen.allJSON(t)
	metaSeen.allProtobuf(t)
}

// allJSON fails t unless every response recorded was JSON.
func (ct *contentTypes) allJSON(t *testing.T) {
	t.Helper()
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if len(ct.seen) == 0 {
		t.Fatal("no responses recorded")
	}
	for _, s := range ct.seen {
		if !strings.HasSuffix(s, " application/json") {
			t.Errorf("response not JSON: %s", s)
		}
	}
}
