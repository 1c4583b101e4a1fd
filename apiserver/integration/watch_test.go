package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"coracle.dev/apiserver/internal/servertest"
	"coracle.dev/apiserver/server"
)

// rawEvent is one line of a watch stream.
type rawEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

func (e rawEvent) meta(t *testing.T) metav1.ObjectMeta {
	t.Helper()
	var obj struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(e.Object, &obj); err != nil {
		t.Fatalf("event object: %v", err)
	}
	return obj.Metadata
}

// stream opens a raw watch and delivers its events on a channel, closed when
// the stream ends.
func (c *cluster) stream(t *testing.T, path string) (<-chan rawEvent, func()) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.Server.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: c.http.Transport}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("watch %s: %d", path, resp.StatusCode)
	}
	ch := make(chan rawEvent, 1000)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var e rawEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				return
			}
			ch <- e
		}
	}()
	stop := func() { resp.Body.Close() }
	t.Cleanup(stop)
	return ch, stop
}

func next(t *testing.T, ch <-chan rawEvent, within time.Duration) rawEvent {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("watch stream ended")
		}
		return e
	case <-time.After(within):
		t.Fatalf("no watch event within %v", within)
	}
	return rawEvent{}
}

func TestWatchResumesWithoutGapsOrDuplicates(t *testing.T) {
	c := start(t)
	cms := c.client.CoreV1().ConfigMaps("default")
	cm, err := cms.Create(ctx(t), configMap("counter", map[string]string{"n": "0"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const writes = 200
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= writes; i++ {
			patch := fmt.Sprintf(`{"data":{"n":"%d"}}`, i)
			if _, err := cms.Patch(ctx(t), "counter", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	// Watch in short pieces, each resuming from the last resourceVersion
	// seen, while the writer runs.
	lastRV := cm.ResourceVersion
	seen := 0
	for seen < writes {
		w, err := cms.Watch(ctx(t), metav1.ListOptions{ResourceVersion: lastRV, FieldSelector: "metadata.name=counter"})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 7 && seen < writes; i++ {
			select {
			case ev := <-w.ResultChan():
				if ev.Type != watch.Modified {
					t.Fatalf("event %v", ev.Type)
				}
				got := ev.Object.(*corev1.ConfigMap)
				want := strconv.Itoa(seen + 1)
				if got.Data["n"] != want {
					t.Fatalf("after %d events got n=%s, want %s (a gap or a duplicate)", seen, got.Data["n"], want)
				}
				seen++
				lastRV = got.ResourceVersion
			case <-time.After(20 * time.Second):
				t.Fatalf("stalled after %d events", seen)
			}
		}
		w.Stop()
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWatchStartsWithStateWithoutResourceVersion(t *testing.T) {
	c := start(t)
	cms := c.client.CoreV1().ConfigMaps("default")
	for _, n := range []string{"a", "b"} {
		if _, err := cms.Create(ctx(t), configMap(n, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ch, _ := c.stream(t, "/api/v1/namespaces/default/configmaps?watch=1")
	got := map[string]bool{}
	for i := 0; i < 2; i++ {
		e := next(t, ch, 10*time.Second)
		if e.Type != "ADDED" {
			t.Fatalf("initial event %s", e.Type)
		}
		got[e.meta(t).Name] = true
	}
	if !got["a"] || !got["b"] {
		t.Fatalf("initial events %v", got)
	}
	if _, err := cms.Create(ctx(t), configMap("c", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if e := next(t, ch, 10*time.Second); e.Type != "ADDED" || e.meta(t).Name != "c" {
		t.Fatalf("live event %s %s", e.Type, e.meta(t).Name)
	}
}

func TestWatchTooOldResourceVersionIsGone(t *testing.T) {
	c := start(t, servertest.WithConfig(func(cfg *server.Config) { cfg.WatchCacheSize = 8 }))
	cms := c.client.CoreV1().ConfigMaps("default")
	first, err := cms.Create(ctx(t), configMap("old", map[string]string{"n": "0"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		if _, err := cms.Patch(ctx(t), "old", types.MergePatchType, []byte(fmt.Sprintf(`{"data":{"n":"%d"}}`, i)), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ch, _ := c.stream(t, "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion="+first.ResourceVersion)
	e := next(t, ch, 10*time.Second)
	if e.Type != "ERROR" {
		t.Fatalf("want an ERROR event, got %s", e.Type)
	}
	var st metav1.Status
	if err := json.Unmarshal(e.Object, &st); err != nil {
		t.Fatal(err)
	}
	if st.Code != http.StatusGone || st.Reason != metav1.StatusReasonExpired {
		t.Fatalf("status %+v", st)
	}
	// client-go sees it as an Expired error too.
	w, err := cms.Watch(ctx(t), metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev := <-w.ResultChan()
	if ev.Type != watch.Error {
		t.Fatalf("client-go got %v", ev.Type)
	}
}

func TestWatchBookmarks(t *testing.T) {
	c := start(t, servertest.WithConfig(func(cfg *server.Config) { cfg.WatchBookmarkInterval = 200 * time.Millisecond }))
	cm, err := c.client.CoreV1().ConfigMaps("default").Create(ctx(t), configMap("bm", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := c.stream(t, "/api/v1/namespaces/default/configmaps?watch=1&allowWatchBookmarks=true&resourceVersion="+cm.ResourceVersion)
	e := next(t, ch, 10*time.Second)
	if e.Type != "BOOKMARK" {
		t.Fatalf("want BOOKMARK, got %s", e.Type)
	}
	m := e.meta(t)
	rv, _ := strconv.ParseInt(m.ResourceVersion, 10, 64)
	created, _ := strconv.ParseInt(cm.ResourceVersion, 10, 64)
	if rv < created {
		t.Fatalf("bookmark at %d, before the object's %d", rv, created)
	}
	var kind struct {
		Kind string `json:"kind"`
	}
	_ = json.Unmarshal(e.Object, &kind)
	if kind.Kind != "ConfigMap" {
		t.Fatalf("bookmark object kind %q", kind.Kind)
	}
	// Without allowWatchBookmarks, none arrive.
	ch2, _ := c.stream(t, "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion="+cm.ResourceVersion)
	select {
	case e := <-ch2:
		t.Fatalf("unexpected %s", e.Type)
	case <-time.After(time.Second):
	}
}

func TestWatchListSendsInitialEventsThenBookmark(t *testing.T) {
	c := start(t)
	cms := c.client.CoreV1().ConfigMaps("default")
	for _, n := range []string{"x", "y", "z"} {
		if _, err := cms.Create(ctx(t), configMap(n, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ch, _ := c.stream(t, "/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
	for i := 0; i < 3; i++ {
		if e := next(t, ch, 10*time.Second); e.Type != "ADDED" {
			t.Fatalf("initial event %d: %s", i, e.Type)
		}
	}
	e := next(t, ch, 10*time.Second)
	if e.Type != "BOOKMARK" || e.meta(t).Annotations[metav1.InitialEventsAnnotationKey] != "true" {
		t.Fatalf("want the initial-events-end bookmark, got %s %v", e.Type, e.meta(t).Annotations)
	}
	if err := cms.Delete(ctx(t), "x", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if e := next(t, ch, 10*time.Second); e.Type != "DELETED" || e.meta(t).Name != "x" {
		t.Fatalf("live event %s", e.Type)
	}
	r := c.do(t, http.MethodGet, "/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true", "", nil)
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("sendInitialEvents without resourceVersionMatch: %d %s", r.code, r.body)
	}
}

func TestFilteredWatchSeesObjectsEnterAndLeave(t *testing.T) {
	c := start(t)
	cms := c.client.CoreV1().ConfigMaps("default")
	cm, err := cms.Create(ctx(t), configMap("f", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx(t), metav1.ListOptions{LabelSelector: "color=blue", ResourceVersion: cm.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	steps := []struct {
		labels string
		want   watch.EventType
	}{
		{`{"color":"blue"}`, watch.Added},
		{`{"color":"blue","size":"l"}`, watch.Modified},
		{`{"color":"red","size":null}`, watch.Deleted},
	}
	for _, s := range steps {
		if _, err := cms.Patch(ctx(t), "f", types.MergePatchType, []byte(`{"metadata":{"labels":`+s.labels+`}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-w.ResultChan():
			if ev.Type != s.want {
				t.Fatalf("labels %s: got %v, want %v", s.labels, ev.Type, s.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("labels %s: no event", s.labels)
		}
	}
}

func TestWatchTimeoutSeconds(t *testing.T) {
	c := start(t)
	ch, _ := c.stream(t, "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1&resourceVersion=1")
	deadline := time.After(15 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("watch with timeoutSeconds=1 still open after 15s")
		}
	}
}
