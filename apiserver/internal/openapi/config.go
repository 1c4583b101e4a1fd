package openapi

import (
	restful "github.com/emicklei/go-restful/v3"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	apiopenapi "k8s.io/apiserver/pkg/endpoints/openapi"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"coracle.dev/apiserver/internal/apiresource"
)

// namerScheme is the scheme the definition namer reads the kinds from: a
// definition gets the x-kubernetes-group-version-kind extension listing
// every kind its Go type is registered as, which is how kubectl explain
// and the field manager's type converter find a kind's schema. It knows
// the kinds the apiserver decodes, every served kind (a group added later
// needs nothing here) and, in every served group-version, the meta kinds
// (DeleteOptions, WatchEvent, …) that kube-apiserver's scheme registers
// there too.
func namerScheme(reg *apiresource.Registry) (*runtime.Scheme, error) {
	s, err := apiresource.NewScheme()
	if err != nil {
		return nil, err
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		return nil, err
	}
	for _, d := range reg.All() {
		gv := d.GroupVersion()
		if !s.IsVersionRegistered(gv) {
			metav1.AddToGroupVersion(s, gv)
		}
		if !typed(d) {
			continue
		}
		if !s.Recognizes(d.GVK()) {
			s.AddKnownTypeWithName(d.GVK(), d.New())
		}
		if list := gv.WithKind(d.Kind + "List"); d.NewList != nil && !s.Recognizes(list) {
			s.AddKnownTypeWithName(list, d.NewList())
		}
	}
	return s, nil
}

// typed reports whether d's objects are Go types with generated
// definitions; custom resources (unstructured) get theirs from their CRD.
func typed(d *apiresource.Descriptor) bool {
	_, unstr := d.New().(*unstructured.Unstructured)
	return !unstr
}

// operationID names an operation as kube-apiserver does
// ("listCoreV1NamespacedPod", tag "core_v1") from the route's verb-kind
// operation name and its path.
func operationID(r common.Route) (string, []string, error) {
	return apiopenapi.GetOperationIDAndTags(&restful.Route{Operation: r.OperationName(), Path: r.Path()})
}

// bearerToken is the security scheme kube-apiserver declares when it
// authenticates bearer tokens, with the 401 every operation may answer.
const (
	bearerToken            = "BearerToken"
	bearerTokenDescription = "Bearer Token authentication"
)

func v2Config(defs common.GetOpenAPIDefinitions, namer *apiopenapi.DefinitionNamer, version string) *common.Config {
	return &common.Config{
		ProtocolList:    []string{"https"},
		Info:            &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: version}},
		DefaultResponse: &spec.Response{ResponseProps: spec.ResponseProps{Description: "Default Response."}},
		CommonResponses: map[int]spec.Response{401: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}}},
		SecurityDefinitions: &spec.SecurityDefinitions{bearerToken: &spec.SecurityScheme{SecuritySchemeProps: spec.SecuritySchemeProps{
			Type: "apiKey", Name: "authorization", In: "header", Description: bearerTokenDescription,
		}}},
		DefaultSecurity:                []map[string][]string{{bearerToken: {}}},
		GetOperationIDAndTagsFromRoute: operationID,
		GetDefinitionName:              namer.GetDefinitionName,
		GetDefinitions:                 defs,
	}
}

// v3Config resolves the definitions once: every group-version's document
// is built from the same map.
func v3Config(defs common.GetOpenAPIDefinitions, namer *apiopenapi.DefinitionNamer, version string) *common.OpenAPIV3Config {
	return &common.OpenAPIV3Config{
		Info:            &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: version}},
		DefaultResponse: &spec3.Response{ResponseProps: spec3.ResponseProps{Description: "Default Response."}},
		CommonResponses: map[int]*spec3.Response{401: {ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}}},
		SecuritySchemes: spec3.SecuritySchemes{bearerToken: &spec3.SecurityScheme{SecuritySchemeProps: spec3.SecuritySchemeProps{
			Type: "apiKey", Name: "authorization", In: "header", Description: bearerTokenDescription,
		}}},
		DefaultSecurity:                []map[string][]string{{bearerToken: {}}},
		GetOperationIDAndTagsFromRoute: operationID,
		GetDefinitionName:              namer.GetDefinitionName,
		GetDefinitions:                 defs,
		Definitions: defs(func(name string) spec.Ref {
			defName, _ := namer.GetDefinitionName(name)
			return spec.MustCreateRef("#/components/schemas/" + common.EscapeJsonPointer(defName))
		}),
	}
}
