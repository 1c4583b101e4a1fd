package endpoints

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"coracle.dev/apiserver/internal/genericstore"
	"coracle.dev/apiserver/internal/watchcache"
)

// initialEventsEndAnnotation marks the bookmark that ends a watch-list's
// initial events.
const initialEventsEndAnnotation = metav1.InitialEventsAnnotationKey

func (r *request) watch() {
	out, ok := r.output()
	if !ok {
		return
	}
	if out == outYAML {
		out = outJSON
	}
	lopts, err := r.listOptions()
	if err != nil {
		r.fail(err)
		return
	}
	q := r.c.Request.URL.Query()
	opts := genericstore.WatchOptions{ListOptions: lopts, AllowBookmarks: isTrue(q.Get("allowWatchBookmarks"))}
	if s := q.Get("sendInitialEvents"); s != "" {
		b := isTrue(s)
		opts.SendInitialEvents = &b
	}
	timeout := r.api.opts.MinRequestTimeout + time.Duration(rand.Int64N(int64(r.api.opts.MinRequestTimeout)))
	if s := q.Get("timeoutSeconds"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			r.fail(apierrors.NewBadRequest(fmt.Sprintf("invalid timeoutSeconds %q", s)))
			return
		}
		if n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}

	w, err := r.store.Watch(r.ctx(), opts)
	var status apierrors.APIStatus
	if err != nil && errors.As(err, &status) && status.Status().Reason == metav1.StatusReasonExpired {
		// As Kubernetes' watch cache does: the stream opens, and its one
		// event is the 410 error.
		r.startStream()
		r.writeErrorEvent(err)
		return
	}
	if err != nil {
		r.fail(err)
		return
	}
	defer w.Stop()
	r.api.opts.LongRunning(r.desc.Resource, 1)
	defer r.api.opts.LongRunning(r.desc.Resource, -1)

	r.startStream()
	enc := &eventEncoder{req: r, out: out, includeObject: q.Get("includeObject")}
	for _, d := range w.Initial() {
		if !enc.write(d) {
			return
		}
	}
	enc.flush()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	ctx := r.ctx()
	events := w.Events()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		case <-r.api.opts.Shutdown:
			return
		case d, ok := <-events:
			if !ok {
				r.api.log.Debug("watch closed by cache", zap.String("resource", r.desc.String()), zap.String("reason", w.Reason()))
				return
			}
			if !enc.write(d) {
				return
			}
			// Flush when caught up, so a burst goes out in few writes.
			if len(events) == 0 {
				enc.flush()
			}
		}
	}
}

func (r *request) startStream() {
	h := r.c.Writer.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache, private")
	r.c.Status(http.StatusOK)
	r.c.Writer.WriteHeaderNow()
	r.c.Writer.Flush()
}

func (r *request) writeErrorEvent(err error) {
	st := statusFor(err)
	line, _ := json.Marshal(&metav1.WatchEvent{Type: string(watch.Error), Object: runtime.RawExtension{Raw: mustJSON(&st)}})
	_, _ = r.c.Writer.Write(append(line, '\n'))
	r.c.Writer.Flush()
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte("null")
	}
	return b
}

// eventEncoder writes watch events as newline-separated JSON objects.
type eventEncoder struct {
	req           *request
	out           output
	includeObject string
}

func (e *eventEncoder) write(d watchcache.Delivery) bool {
	line, err := e.encode(d)
	if err != nil {
		e.req.api.log.Error("encode watch event", zap.Error(err))
		e.req.writeErrorEvent(apierrors.NewInternalError(err))
		return false
	}
	if _, err := e.req.c.Writer.Write(line); err != nil {
		return false
	}
	return true
}

func (e *eventEncoder) flush() { e.req.c.Writer.Flush() }

func (e *eventEncoder) encode(d watchcache.Delivery) ([]byte, error) {
	if d.Type == watch.Bookmark {
		return e.line(d.Type, e.bookmarkObject(d))
	}
	if e.out == outJSON && d.Event != nil {
		// One encoding per event and variant serves every watcher.
		return d.Event.Memo("json:"+d.Variant, func() ([]byte, error) { return e.line(d.Type, d.Object) })
	}
	return e.line(d.Type, d.Object)
}

func (e *eventEncoder) line(t watch.EventType, obj runtime.Object) ([]byte, error) {
	var v any = obj
	switch e.out {
	case outTable:
		if t != watch.Bookmark {
			table, err := toTable(e.req.desc, obj, e.includeObject)
			if err != nil {
				return nil, err
			}
			v = table
		}
	case outMetadata:
		v = toMetadata(obj)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	line := make([]byte, 0, len(raw)+32)
	line = append(line, `{"type":"`...)
	line = append(line, t...)
	line = append(line, `","object":`...)
	line = append(line, raw...)
	return append(line, "}\n"...), nil
}

// bookmarkObject is an empty object of the kind carrying only the
// resourceVersion (and the initial-events-end annotation).
func (e *eventEncoder) bookmarkObject(d watchcache.Delivery) runtime.Object {
	obj := e.req.desc.New()
	obj.GetObjectKind().SetGroupVersionKind(e.req.desc.GVK())
	m, _ := meta.Accessor(obj)
	m.SetResourceVersion(strconv.FormatInt(d.Revision, 10))
	if d.InitialEventsEnd {
		m.SetAnnotations(map[string]string{initialEventsEndAnnotation: "true"})
	}
	return obj
}
