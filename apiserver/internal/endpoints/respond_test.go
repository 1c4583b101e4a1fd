package endpoints

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/apimachinery/pkg/watch"

	"coracle.dev/apiserver/internal/apiresource"
)

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s, err := apiresource.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testConfigMap() *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{Kind: "ConfigMap", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "default", ResourceVersion: "7", UID: "u1"},
		Data:       map[string]string{"k": "v"},
	}
}

func TestEncodeProtobuf(t *testing.T) {
	scheme := testScheme(t)
	dec := protobuf.NewSerializer(scheme, scheme)
	item := *testConfigMap()
	item.TypeMeta = metav1.TypeMeta{} // items carry no kind in protobuf
	tests := []struct {
		name string
		obj  runtime.Object
		into runtime.Object
	}{
		{"object", testConfigMap(), &corev1.ConfigMap{}},
		{"list", &corev1.ConfigMapList{TypeMeta: metav1.TypeMeta{Kind: "ConfigMapList", APIVersion: "v1"}, ListMeta: metav1.ListMeta{ResourceVersion: "9"}, Items: []corev1.ConfigMap{item}}, &corev1.ConfigMapList{}},
		{"status", &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure, Code: 404, Reason: metav1.StatusReasonNotFound, Message: "gone"}, &metav1.Status{}},
		{"metadata", toMetadata(testConfigMap()), &metav1.PartialObjectMetadata{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := encode(mediaProtobuf, tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(data, []byte("k8s\x00")) {
				t.Fatalf("no protobuf magic: %q", data[:8])
			}
			got, gvk, err := dec.Decode(data, nil, tt.into)
			if err != nil {
				t.Fatal(err)
			}
			if *gvk != tt.obj.GetObjectKind().GroupVersionKind() {
				t.Fatalf("envelope names %v, want %v", gvk, tt.obj.GetObjectKind().GroupVersionKind())
			}
			// The envelope carries the kind, the message does not.
			got.GetObjectKind().SetGroupVersionKind(*gvk)
			if !reflect.DeepEqual(got, tt.obj) {
				t.Fatalf("round trip:\ngot  %#v\nwant %#v", got, tt.obj)
			}
		})
	}
	if _, err := encode(mediaProtobuf, &runtime.Unknown{}); err != nil {
		t.Fatalf("an Unknown is written as it is: %v", err)
	}
}

// A protobuf watch stream reads back with the framing and decoders
// client-go uses: length-delimited frames of bare WatchEvents whose objects
// are enveloped.
func TestProtobufWatchEvents(t *testing.T) {
	scheme := testScheme(t)
	enc := &eventEncoder{out: makeOutput(mediaProtobuf, viewObject)}
	var stream bytes.Buffer
	cm := testConfigMap()
	for _, typ := range []watch.EventType{watch.Added, watch.Modified} {
		data, err := enc.event(typ, cm)
		if err != nil {
			t.Fatal(err)
		}
		stream.Write(data)
	}
	st := statusFor(gone())
	data, err := enc.event(watch.Error, &st)
	if err != nil {
		t.Fatal(err)
	}
	stream.Write(data)

	frames := protobuf.LengthDelimitedFramer.NewFrameReader(io.NopCloser(&stream))
	events := streaming.NewDecoder(frames, protobuf.NewRawSerializer(scheme, scheme))
	objects := protobuf.NewSerializer(scheme, scheme)
	want := []struct {
		typ string
		obj runtime.Object
	}{{"ADDED", cm}, {"MODIFIED", cm}, {"ERROR", &st}}
	for _, w := range want {
		var ev metav1.WatchEvent
		if _, _, err := events.Decode(nil, &ev); err != nil {
			t.Fatalf("decode %s event: %v", w.typ, err)
		}
		if ev.Type != w.typ {
			t.Fatalf("event type %q, want %q", ev.Type, w.typ)
		}
		obj, _, err := objects.Decode(ev.Object.Raw, nil, nil)
		if err != nil {
			t.Fatalf("decode the %s event's object: %v", w.typ, err)
		}
		if !reflect.DeepEqual(obj, w.obj) {
			t.Fatalf("%s event's object:\ngot  %#v\nwant %#v", w.typ, obj, w.obj)
		}
	}
	if _, _, err := events.Decode(nil, &metav1.WatchEvent{}); err != io.EOF {
		t.Fatalf("after the last event: %v", err)
	}
}

// JSON events are byte for byte what encoding a metav1.WatchEvent gives,
// one a line.
func TestJSONWatchEvents(t *testing.T) {
	enc := &eventEncoder{out: makeOutput(mediaJSON, viewObject)}
	st := statusFor(gone())
	for _, obj := range []runtime.Object{testConfigMap(), &st} {
		got, err := enc.event(watch.Modified, obj)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(obj)
		want, _ := json.Marshal(&metav1.WatchEvent{Type: "MODIFIED", Object: runtime.RawExtension{Raw: raw}})
		if !bytes.Equal(got, append(want, '\n')) {
			t.Fatalf("event\n%s\nwant\n%s", got, want)
		}
	}
}

func gone() error {
	return statusError(410, metav1.StatusReasonExpired, "too old resource version: 1 (5)")
}
