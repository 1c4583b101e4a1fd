package endpoints

import (
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/munnerz/goautoneg"
)

// media is the encoding of a response body.
type media int

const (
	mediaJSON media = iota
	mediaYAML
	mediaProtobuf // Kubernetes protobuf: the "k8s\x00" envelope
)

// view is what a response holds: the object itself, or the rendering of it
// a client asked for with the as=, g= and v= parameters.
type view int

const (
	viewObject   view = iota
	viewTable         // a meta.k8s.io Table, for kubectl get
	viewMetadata      // PartialObjectMetadata(List), for the metadata client
)

// output is the form a response takes: an encoding and a view, packed in
// one integer whose zero is JSON of the object itself.
type output int

func makeOutput(m media, v view) output { return output(int(v)<<4 | int(m)) }

func (o output) media() media { return media(o & 0xf) }
func (o output) view() view   { return view(o >> 4) }

// withMedia is o in the encoding m.
func (o output) withMedia(m media) output { return makeOutput(m, o.view()) }

// served is one encoding the apiserver answers in. servedMedia lists them
// in the order of kube-apiserver's codec factory, which decides what an
// Accept clause like */* gets.
type served struct {
	media        media
	typ, subtype string
	// stream: it has a framing for watch streams (YAML has none).
	stream bool
}

var servedMedia = [...]served{
	{media: mediaJSON, typ: "application", subtype: "json", stream: true},
	{media: mediaYAML, typ: "application", subtype: "yaml"},
	{media: mediaProtobuf, typ: "application", subtype: "vnd.kubernetes.protobuf", stream: true},
}

// String is the media type, as Content-Type names it.
func (s served) String() string { return s.typ + "/" + s.subtype }

// contentType is the Content-Type of a response in m.
func (m media) contentType() string {
	for _, s := range servedMedia {
		if s.media == m {
			return s.String()
		}
	}
	return runtime.ContentTypeJSON
}

// matches reports whether the Accept clause a names s, exactly or by a
// wildcard.
func (s served) matches(a goautoneg.Accept) bool {
	switch {
	case a.Type == "*" && a.SubType == "*":
		return true
	case a.Type != s.typ:
		return false
	}
	return a.SubType == s.subtype || a.SubType == "*"
}

// restrictions say which outputs an endpoint offers, as kube-apiserver's
// negotiation.EndpointRestrictions (a resource's RequestScope, or the
// defaults errors are written with).
type restrictions struct {
	// views: Table and PartialObjectMetadata are offered (stored kinds;
	// not the review kinds, whose answers are no objects to list).
	views bool
	// protobuf: the kind's own objects are protobuf messages. Custom
	// resources are unstructured: apiextensions-apiserver answers them
	// in JSON and YAML only (but their PartialObjectMetadata in
	// protobuf too).
	protobuf bool
	// serverVersion is the version the sv= parameter may name, "" none.
	serverVersion string
}

// errorRestrictions are those a Status is written with, as
// responsewriters.ErrorNegotiated: any encoding, no conversions.
var errorRestrictions = restrictions{protobuf: true}

// negotiateOutput picks the output for the Accept header accept: the first
// clause, by preference (q) and specificity, that names an encoding the
// endpoint offers with parameters it accepts, as kube-apiserver's
// negotiation.NegotiateMediaTypeOptions. No header means JSON.
func negotiateOutput(accept string, rs restrictions) (output, bool) {
	if strings.TrimSpace(accept) == "" {
		return makeOutput(mediaJSON, viewObject), true
	}
	for _, clause := range goautoneg.ParseAccept(accept) {
		if clause.Q == 0 {
			continue
		}
		for _, s := range servedMedia {
			if !s.matches(clause) {
				continue
			}
			if out, ok := rs.accept(s, clause.Params); ok {
				return out, true
			}
		}
	}
	return 0, false
}

// accept returns the output an Accept clause's parameters ask for in the
// encoding s, or false if the endpoint cannot answer it.
func (rs restrictions) accept(s served, params map[string]string) (output, bool) {
	var convert bool
	var as, group, version string
	for k, v := range params {
		switch k {
		case "as":
			convert, as = true, v
		case "g":
			convert, group = true, v
		case "v":
			convert, version = true, v
		case "stream":
			// stream=watch is how watch streams are asked for.
			if v != "" && (!s.stream || v != "watch") {
				return 0, false
			}
		case "sv":
			if v != "" && v != rs.serverVersion {
				return 0, false
			}
		}
	}
	if !convert {
		if s.media == mediaProtobuf && !rs.protobuf {
			return 0, false
		}
		return makeOutput(s.media, viewObject), true
	}
	if !rs.views || group != metav1.GroupName || (version != "v1" && version != "v1beta1") {
		return 0, false
	}
	switch as {
	case "Table":
		// Kubernetes serves Tables in JSON and YAML only.
		if s.media == mediaProtobuf {
			return 0, false
		}
		return makeOutput(s.media, viewTable), true
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		return makeOutput(s.media, viewMetadata), true
	}
	return 0, false
}

// notAcceptable is the 406 for an Accept header nothing matches, naming
// the media types served, as kube-apiserver's.
func notAcceptable() error {
	names := make([]string, len(servedMedia))
	for i, s := range servedMedia {
		names[i] = s.String()
	}
	return statusError(http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable, "only the following media types are accepted: "+strings.Join(names, ", "))
}

// negotiated returns the output the request's Accept header negotiates
// for its kind, or writes the 406 and returns false.
func (r *request) negotiated() (output, bool) {
	rs := restrictions{views: !r.desc.Virtual(), protobuf: isProtobufKind(r.desc.New()), serverVersion: "v1"}
	out, ok := negotiateOutput(r.c.GetHeader("Accept"), rs)
	if !ok {
		r.fail(notAcceptable())
		return 0, false
	}
	return out, true
}

// protobufMessage is what the protobuf serializer encodes: the generated
// messages of k8s.io/api, apiextensions and apiregistration.
type protobufMessage interface {
	Marshal() ([]byte, error)
}

// isProtobufKind reports whether obj, an empty object of a kind, encodes
// as protobuf: custom resources (unstructured) do not.
func isProtobufKind(obj runtime.Object) bool {
	if _, ok := obj.(*unstructured.Unstructured); ok {
		return false
	}
	_, ok := obj.(protobufMessage)
	return ok
}
