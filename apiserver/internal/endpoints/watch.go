package endpoints

import (
	"bytes"
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
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/watch"

	"coracle.dev/apiserver/internal/genericstore"
	"coracle.dev/apiserver/internal/watchcache"
)

// initialEventsEndAnnotation marks the bookmark that ends a watch-list's
// initial events.
const initialEventsEndAnnotation = metav1.InitialEventsAnnotationKey

func (r *request) watch() {
	out, ok := r.negotiated()
	if !ok {
		return
	}
	if out.media() == mediaYAML {
		// YAML has no stream framing: its watches get JSON.
		out = out.withMedia(mediaJSON)
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

	enc := &eventEncoder{req: r, out: out, includeObject: q.Get("includeObject")}
	w, err := r.store.Watch(r.ctx(), opts)
	var status apierrors.APIStatus
	if err != nil && errors.As(err, &status) && status.Status().Reason == metav1.StatusReasonExpired {
		// As Kubernetes' watch cache does: the stream opens, and its one
		// event is the 410 error.
		r.startStream(out.media())
		enc.writeError(err)
		return
	}
	if err != nil {
		r.fail(err)
		return
	}
	defer w.Stop()
	r.api.opts.LongRunning(r.desc.Resource, 1)
	defer r.api.opts.LongRunning(r.desc.Resource, -1)

	r.startStream(out.media())
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

// startStream sends the headers of a watch stream in m: JSON events one
// per line as application/json, protobuf events in length-prefixed frames
// as application/vnd.kubernetes.protobuf;stream=watch, the Content-Types
// kube-apiserver's watch server sets.
func (r *request) startStream(m media) {
	ct := m.contentType()
	if m != mediaJSON {
		ct += ";stream=watch"
	}
	h := r.c.Writer.Header()
	h.Set("Content-Type", ct)
	h.Set("Cache-Control", "no-cache, private")
	r.c.Status(http.StatusOK)
	r.c.Writer.WriteHeaderNow()
	r.c.Writer.Flush()
}

// eventEncoder writes watch events: metav1.WatchEvents as newline-separated
// JSON objects, or as protobuf messages in length-prefixed frames, the
// event's object inside in its own "k8s\x00" envelope.
type eventEncoder struct {
	req           *request
	out           output
	includeObject string
}

func (e *eventEncoder) write(d watchcache.Delivery) bool {
	data, err := e.encode(d)
	if err != nil {
		e.req.api.log.Error("encode watch event", zap.Error(err))
		e.writeError(apierrors.NewInternalError(err))
		return false
	}
	if _, err := e.req.c.Writer.Write(data); err != nil {
		return false
	}
	return true
}

// writeError sends err as the stream's ERROR event and flushes it.
func (e *eventEncoder) writeError(err error) {
	st := statusFor(err)
	if data, err := e.event(watch.Error, &st); err == nil {
		_, _ = e.req.c.Writer.Write(data)
	}
	e.req.c.Writer.Flush()
}

func (e *eventEncoder) flush() { e.req.c.Writer.Flush() }

func (e *eventEncoder) encode(d watchcache.Delivery) ([]byte, error) {
	if d.Type == watch.Bookmark {
		return e.event(d.Type, e.bookmarkObject(d))
	}
	if e.out.view() != viewTable && d.Event != nil {
		// One encoding per event, form and variant serves every watcher.
		return d.Event.Memo(e.memoKey(d.Variant), func() ([]byte, error) { return e.event(d.Type, d.Object) })
	}
	return e.event(d.Type, d.Object)
}

// memoKey names the encoding of a delivery variant in this encoder's
// form. Tables are not memoized: their rows depend on includeObject.
func (e *eventEncoder) memoKey(variant string) string {
	key := "json"
	if e.out.media() == mediaProtobuf {
		key = "protobuf"
	}
	if e.out.view() == viewMetadata {
		key += "-metadata"
	}
	return key + ":" + variant
}

// event encodes one event of type t carrying obj, in the view asked for:
// a Status (an ERROR's) goes as it is, as kube-apiserver sends it.
func (e *eventEncoder) event(t watch.EventType, obj runtime.Object) ([]byte, error) {
	if _, isStatus := obj.(*metav1.Status); !isStatus {
		switch e.out.view() {
		case viewTable:
			if t != watch.Bookmark {
				table, err := toTable(e.req.desc, obj, e.includeObject)
				if err != nil {
					return nil, err
				}
				obj = table
			}
		case viewMetadata:
			obj = toMetadata(obj)
		}
	}
	if e.out.media() == mediaProtobuf {
		return protobufEvent(t, obj)
	}
	raw, err := json.Marshal(obj)
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

// protobufEvent is the frame of one protobuf watch event: the big-endian
// length, then the bare metav1.WatchEvent message whose object is obj in
// its protobuf envelope, as kube-apiserver's watch encoder writes it.
func protobufEvent(t watch.EventType, obj runtime.Object) ([]byte, error) {
	embedded, err := encode(mediaProtobuf, obj)
	if err != nil {
		return nil, err
	}
	var ev bytes.Buffer
	if err := protobufRawEncoder.Encode(&metav1.WatchEvent{Type: string(t), Object: runtime.RawExtension{Raw: embedded}}, &ev); err != nil {
		return nil, err
	}
	var frame bytes.Buffer
	if _, err := protobuf.LengthDelimitedFramer.NewFrameWriter(&frame).Write(ev.Bytes()); err != nil {
		return nil, err
	}
	return frame.Bytes(), nil
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
