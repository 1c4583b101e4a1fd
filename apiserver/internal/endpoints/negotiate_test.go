package endpoints

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
)

var (
	builtin = restrictions{views: true, protobuf: true, serverVersion: "v1"}
	custom  = restrictions{views: true, serverVersion: "v1"}
	review  = restrictions{protobuf: true, serverVersion: "v1"}
)

const (
	pb        = "application/vnd.kubernetes.protobuf"
	tableJSON = "application/json;as=Table;v=v1;g=meta.k8s.io"
	metaPB    = pb + ";as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
	metaJSON  = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
)

var negotiationCases = []struct {
	name   string
	accept string
	rs     restrictions
	want   output
	ok     bool
}{
	{"no header is JSON", "", builtin, makeOutput(mediaJSON, viewObject), true},
	{"JSON", "application/json", builtin, makeOutput(mediaJSON, viewObject), true},
	{"YAML", "application/yaml", builtin, makeOutput(mediaYAML, viewObject), true},
	{"protobuf", pb, builtin, makeOutput(mediaProtobuf, viewObject), true},
	{"client-go's protobuf config", pb + ",application/json", builtin, makeOutput(mediaProtobuf, viewObject), true},
	{"q-values order the clauses", "application/vnd.kubernetes.protobuf;q=0.5, application/json", builtin, makeOutput(mediaJSON, viewObject), true},
	{"higher q wins whatever the order", "application/json;q=0.9," + pb, builtin, makeOutput(mediaProtobuf, viewObject), true},
	{"q=0 refuses", pb + ";q=0", builtin, 0, false},
	{"any type is JSON", "*/*", builtin, makeOutput(mediaJSON, viewObject), true},
	{"any application type is JSON", "application/*", builtin, makeOutput(mediaJSON, viewObject), true},
	{"a specific type before a wildcard", "*/*," + pb, builtin, makeOutput(mediaProtobuf, viewObject), true},
	{"nothing served", "text/html", builtin, 0, false},
	{"protobuf watch stream", pb + ";stream=watch", builtin, makeOutput(mediaProtobuf, viewObject), true},
	{"YAML has no stream", "application/yaml;stream=watch", builtin, 0, false},
	{"unknown stream", pb + ";stream=other", builtin, 0, false},
	{"server version v1", "application/json;sv=v1", builtin, makeOutput(mediaJSON, viewObject), true},
	{"other server version", "application/json;sv=v2", builtin, 0, false},
	{"unknown parameters are ignored", "application/json;charset=utf-8;pretty=1", builtin, makeOutput(mediaJSON, viewObject), true},
	{"a version alone asks for a conversion", "application/json;v=v1", builtin, 0, false},
	{"kubectl get's Table", tableJSON + ",application/json", builtin, makeOutput(mediaJSON, viewTable), true},
	{"Table v1beta1", "application/json;as=Table;v=v1beta1;g=meta.k8s.io", builtin, makeOutput(mediaJSON, viewTable), true},
	{"Table in YAML", "application/yaml;as=Table;v=v1;g=meta.k8s.io", builtin, makeOutput(mediaYAML, viewTable), true},
	{"no Table in protobuf", pb + ";as=Table;v=v1;g=meta.k8s.io", builtin, 0, false},
	{"no Table in protobuf, then JSON", pb + ";as=Table;v=v1;g=meta.k8s.io,application/json", builtin, makeOutput(mediaJSON, viewObject), true},
	{"Table of another group", "application/json;as=Table;v=v1;g=example.com", builtin, 0, false},
	{"Table without a group", "application/json;as=Table;v=v1", builtin, 0, false},
	{"metadata client in protobuf", metaPB + "," + metaJSON + ",application/json", builtin, makeOutput(mediaProtobuf, viewMetadata), true},
	{"metadata list in protobuf", pb + ";as=PartialObjectMetadataList;g=meta.k8s.io;v=v1", builtin, makeOutput(mediaProtobuf, viewMetadata), true},
	{"metadata in JSON", metaJSON, builtin, makeOutput(mediaJSON, viewMetadata), true},
	{"unknown conversion", "application/json;as=Widget;g=meta.k8s.io;v=v1", builtin, 0, false},
	{"custom resource: no protobuf", pb, custom, 0, false},
	{"custom resource: protobuf, then JSON", pb + ",application/json", custom, makeOutput(mediaJSON, viewObject), true},
	{"custom resource: any type", "*/*", custom, makeOutput(mediaJSON, viewObject), true},
	{"custom resource: metadata in protobuf", metaPB + ",application/json", custom, makeOutput(mediaProtobuf, viewMetadata), true},
	{"custom resource: Table", tableJSON, custom, makeOutput(mediaJSON, viewTable), true},
	{"review kinds have no Table", tableJSON, review, 0, false},
	{"review kinds: Table, then JSON", tableJSON + ",application/json", review, makeOutput(mediaJSON, viewObject), true},
	{"review kinds in protobuf", pb, review, makeOutput(mediaProtobuf, viewObject), true},
	{"errors: protobuf", pb + ",application/json", errorRestrictions, makeOutput(mediaProtobuf, viewObject), true},
	{"errors: never a Table", tableJSON + "," + pb, errorRestrictions, makeOutput(mediaProtobuf, viewObject), true},
	{"errors: no conversion", metaPB, errorRestrictions, 0, false},
	{"errors: protobuf for a watch", pb + ";stream=watch", errorRestrictions, makeOutput(mediaProtobuf, viewObject), true},
	{"errors: no server version", "application/json;sv=v1", errorRestrictions, 0, false},
}

func TestNegotiateOutput(t *testing.T) {
	for _, tt := range negotiationCases {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := negotiateOutput(tt.accept, tt.rs)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Fatalf("negotiateOutput(%q) = (media %d, view %d, %v), want (media %d, view %d, %v)",
					tt.accept, got.media(), got.view(), ok, tt.want.media(), tt.want.view(), tt.ok)
			}
		})
	}
}

// upstreamScope is kube-apiserver's RequestScope restrictions for what rs
// describes, to check negotiateOutput against the library's negotiation.
type upstreamScope struct{ rs restrictions }

func (u upstreamScope) AllowsMediaTypeTransform(typ, subtype string, gvk *schema.GroupVersionKind) bool {
	if gvk == nil {
		return u.rs.protobuf || subtype != "vnd.kubernetes.protobuf"
	}
	if !u.rs.views || gvk.Group != metav1.GroupName || (gvk.Version != "v1" && gvk.Version != "v1beta1") {
		return false
	}
	switch gvk.Kind {
	case "Table":
		return typ == "application" && (subtype == "json" || subtype == "yaml")
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		return true
	}
	return false
}

func (u upstreamScope) AllowsServerVersion(v string) bool { return v != "" && v == u.rs.serverVersion }
func (u upstreamScope) AllowsStreamSchema(s string) bool  { return s == "watch" }

// The media type picked is the one k8s.io/apiserver's negotiation picks
// from a codec factory's serializers (JSON, YAML, protobuf), for every
// case but q=0 (which it does not honour).
func TestNegotiateOutputAgreesWithUpstream(t *testing.T) {
	infos := serializer.NewCodecFactory(runtime.NewScheme()).SupportedMediaTypes()
	for _, tt := range negotiationCases {
		if tt.accept == "" || tt.name == "q=0 refuses" {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			up, upOK := negotiation.NegotiateMediaTypeOptions(tt.accept, infos, upstreamScope{tt.rs})
			got, ok := negotiateOutput(tt.accept, tt.rs)
			if ok != upOK {
				t.Fatalf("acceptable %v, upstream %v", ok, upOK)
			}
			if ok && got.media().contentType() != up.Accepted.MediaType {
				t.Fatalf("media %s, upstream %s", got.media().contentType(), up.Accepted.MediaType)
			}
		})
	}
}

func TestNotAcceptableMessage(t *testing.T) {
	st := statusFor(notAcceptable())
	want := "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"
	if st.Code != 406 || st.Reason != metav1.StatusReasonNotAcceptable || st.Message != want {
		t.Fatalf("406 status %+v", st)
	}
	supported, _ := negotiation.MediaTypesForSerializer(serializer.NewCodecFactory(runtime.NewScheme()))
	if upstream := negotiation.NewNotAcceptableError(supported).Error(); upstream != want {
		t.Fatalf("upstream's message is %q", upstream)
	}
}
