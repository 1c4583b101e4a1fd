// Package openapi serves the apiserver's OpenAPI documents, as
// kube-apiserver does: /openapi/v2 (one Swagger 2.0 document, JSON or
// protobuf, with ETag and gzip) and /openapi/v3 (a root listing every
// group-version with a hash, and one OpenAPI 3.0 document per
// group-version at /openapi/v3/apis/{group}/{version}). Each document has
// the served kinds' paths and operations and the schemas of their types,
// named as Kubernetes names them ("io.k8s.api.core.v1.Pod") with the
// x-kubernetes-group-version-kind extension: kubectl explain reads them,
// kubectl learns from the PATCH operations' fieldValidation parameter that
// the server validates fields itself, and client-go's openapi clients read
// kinds' schemas.
//
// The schemas of the built-in types are generated from their Go source by
// Kubernetes' openapi-gen into the generated package
// (apiserver/hack/update-openapi.sh regenerates it). Custom resources'
// paths and schemas come from their CRDs through SetCustomResource and
// RemoveCustomResource, built by apiextensions-apiserver's own builder.
package openapi

import (
	"fmt"
	"net/http"
	"strings"
	"sync"

	restful "github.com/emicklei/go-restful/v3"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdbuilder "k8s.io/apiextensions-apiserver/pkg/controller/openapi/builder"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	apiopenapi "k8s.io/apiserver/pkg/endpoints/openapi"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/cached"
	"k8s.io/kube-openapi/pkg/common/restfuladapter"
	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/openapi/generated"
)

// Handler serves /openapi/v2 and /openapi/v3. Readers are served from
// kube-openapi's caches, which marshal a document once after each change;
// a CRD change is built before the lock is taken, which readers hold only
// to look a group-version up.
type Handler struct {
	v2 *handler.OpenAPIService
	v3 *handler3.OpenAPIService

	// models are the built-in kinds' schemas for the field manager.
	models map[string]*spec.Schema
	// static are the built-in documents, never changed.
	staticV2 *spec.Swagger
	staticV3 map[string]*spec3.OpenAPI // "api/v1", "apis/apps/v1" -> document

	mu sync.Mutex // guards crds and the updates of v2 and v3 that follow a change
	// crds are the custom resources' documents by CRD name.
	crds map[string]*crdSpecs
}

// crdSpecs are one CRD's documents: v2 (all served versions merged) and
// v3 by group-version path.
type crdSpecs struct {
	v2 *spec.Swagger
	v3 map[string]*spec3.OpenAPI
}

// New builds the built-in documents from the kinds in reg (call it once
// they are complete: subresource Actions included); kubeVersion is the
// server's version, whose release ("v1.37.0") is the documents'
// info.version.
func New(reg *apiresource.Registry, kubeVersion string) (*Handler, error) {
	s, err := namerScheme(reg)
	if err != nil {
		return nil, err
	}
	namer := apiopenapi.NewDefinitionNamer(s)
	// As kube-apiserver: the release without pre-release or build parts.
	version := kubeVersion
	if i := strings.IndexAny(version, "-+"); i >= 0 {
		version = version[:i]
	}
	h := &Handler{
		v3:       handler3.NewOpenAPIService(),
		staticV3: map[string]*spec3.OpenAPI{},
		crds:     map[string]*crdSpecs{},
	}

	var services []*restful.WebService
	var modelNames []string
	v3cfg := v3Config(generated.GetOpenAPIDefinitions, namer, version)
	for _, group := range reg.Groups() {
		for _, v := range reg.Versions(group) {
			gv := schema.GroupVersion{Group: group, Version: v}
			descs := reg.InGroupVersion(group, v)
			ws, err := webService(gv, descs)
			if err != nil {
				return nil, fmt.Errorf("openapi %s: %w", gv, err)
			}
			if len(ws.Routes()) == 0 {
				continue
			}
			services = append(services, ws)
			doc, err := builder3.BuildOpenAPISpecFromRoutes(restfuladapter.AdaptWebServices([]*restful.WebService{ws}), v3cfg)
			if err != nil {
				return nil, fmt.Errorf("openapi v3 %s: %w", gv, err)
			}
			key := strings.TrimPrefix(rootPath(gv), "/")
			h.staticV3[key] = doc
			h.v3.UpdateGroupVersion(key, doc)
			for _, d := range descs {
				if typed(d) {
					modelNames = append(modelNames, modelName(d.New()))
					if d.NewList != nil {
						modelNames = append(modelNames, modelName(d.NewList()))
					}
				}
			}
		}
	}
	if h.staticV2, err = builder.BuildOpenAPISpecFromRoutes(restfuladapter.AdaptWebServices(services), v2Config(generated.GetOpenAPIDefinitions, namer, version)); err != nil {
		return nil, fmt.Errorf("openapi v2: %w", err)
	}
	// As kube-apiserver: v2 documents carry no defaults (v3 ones do).
	h.staticV2.Definitions = handler.PruneDefaults(h.staticV2.Definitions)
	h.v2 = handler.NewOpenAPIService(h.staticV2)

	// The field manager's models, as kube-apiserver builds its type
	// converter's: every served kind with what it refers to, in the v3
	// form (references to #/components/schemas/…). DeleteOptions and the
	// other meta kinds come along with the kinds' lists.
	if h.models, err = builder3.BuildOpenAPIDefinitionsForResources(v3cfg, modelNames...); err != nil {
		return nil, fmt.Errorf("openapi models: %w", err)
	}
	return h, nil
}

// modelName is the definition name of obj's type.
func modelName(obj any) string {
	if n, ok := obj.(interface{ OpenAPIModelName() string }); ok {
		return n.OpenAPIModelName()
	}
	return fmt.Sprintf("%T", obj)
}

// Models returns the schemas of the built-in kinds (and of the types they
// refer to) by definition name, each kind's with its
// x-kubernetes-group-version-kind: the input of the field manager's type
// converter (fieldmanager.NewTypeConverter). Callers must not modify it.
func (h *Handler) Models() map[string]*spec.Schema { return h.models }

// pathHandler collects the handlers kube-openapi registers by path, to be
// routed by gin.
type pathHandler map[string]http.Handler

func (p pathHandler) Handle(path string, h http.Handler)       { p[path] = h }
func (p pathHandler) HandlePrefix(path string, h http.Handler) { p[path+"*"] = h }

// Install registers the routes.
func (h *Handler) Install(r gin.IRoutes) {
	v2 := pathHandler{}
	h.v2.RegisterOpenAPIVersionedService("/openapi/v2", v2)
	v3 := pathHandler{}
	// It cannot fail: it only registers the two handlers.
	_ = h.v3.RegisterOpenAPIV3VersionedService("/openapi/v3", v3)
	r.GET("/openapi/v2", gin.WrapH(v2["/openapi/v2"]))
	r.GET("/openapi/v3", gin.WrapH(v3["/openapi/v3"]))
	groupVersion := v3["/openapi/v3/*"]
	r.GET("/openapi/v3/*path", func(c *gin.Context) {
		// kube-openapi answers an empty 200 for a group-version it does
		// not serve; this says 404 as for any unknown path.
		if !h.servesV3(strings.Trim(c.Param("path"), "/")) {
			notFound(c)
			return
		}
		groupVersion.ServeHTTP(c.Writer, c.Request)
	})
}

func (h *Handler) servesV3(key string) bool {
	if _, ok := h.staticV3[key]; ok {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.crds {
		if _, ok := c.v3[key]; ok {
			return true
		}
	}
	return false
}

func notFound(c *gin.Context) {
	st := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: "the server could not find the requested resource",
		Reason: metav1.StatusReasonNotFound, Code: http.StatusNotFound,
	}
	c.JSON(http.StatusNotFound, &st)
}

// SetCustomResource publishes the paths and schemas of crd's served
// versions, replacing what an earlier call published for the CRD (a
// version no longer served disappears). Call it when the CRD is
// established, and again on every change. The documents are built here;
// v2's merge with the built-in document is left to its first reader.
func (h *Handler) SetCustomResource(crd *apiextensionsv1.CustomResourceDefinition) error {
	specs := &crdSpecs{v2: &spec.Swagger{}, v3: map[string]*spec3.OpenAPI{}}
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		// As apiextensions-apiserver's OpenAPI controllers: v2 without
		// defaults, to merge cleanly with the built-in document.
		v2, err := crdbuilder.BuildOpenAPIV2(crd, v.Name, crdbuilder.Options{V2: true, IncludeSelectableFields: true})
		if err != nil {
			return fmt.Errorf("openapi v2 of %s %s: %w", crd.Name, v.Name, err)
		}
		v2.Definitions = handler.PruneDefaults(v2.Definitions)
		if specs.v2, err = crdbuilder.MergeSpecs(specs.v2, v2); err != nil {
			return fmt.Errorf("openapi v2 of %s %s: %w", crd.Name, v.Name, err)
		}
		v3, err := crdbuilder.BuildOpenAPIV3(crd, v.Name, crdbuilder.Options{IncludeSelectableFields: true})
		if err != nil {
			return fmt.Errorf("openapi v3 of %s %s: %w", crd.Name, v.Name, err)
		}
		specs.v3[strings.TrimPrefix(rootPath(schema.GroupVersion{Group: crd.Spec.Group, Version: v.Name}), "/")] = v3
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.crds[crd.Name]
	h.crds[crd.Name] = specs
	if err := h.updateV3Locked(changedKeys(old, specs)); err != nil {
		// Keep serving what was served before the change.
		if old == nil {
			delete(h.crds, crd.Name)
		} else {
			h.crds[crd.Name] = old
		}
		return err
	}
	h.updateV2Locked()
	return nil
}

// RemoveCustomResource withdraws what SetCustomResource published for
// the CRD named name; an unknown name changes nothing.
func (h *Handler) RemoveCustomResource(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old, ok := h.crds[name]
	if !ok {
		return
	}
	delete(h.crds, name)
	// Removing cannot make a merge fail where it succeeded before.
	_ = h.updateV3Locked(changedKeys(old, nil))
	h.updateV2Locked()
}

// changedKeys are the group-version paths a CRD had or has.
func changedKeys(before, after *crdSpecs) []string {
	seen := map[string]bool{}
	var keys []string
	for _, c := range []*crdSpecs{before, after} {
		if c == nil {
			continue
		}
		for k := range c.v3 {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// updateV3Locked rebuilds the documents of the group-versions keys from
// the built-in document (if any) and every CRD's. Every document is
// merged before any is published, so a conflict changes nothing.
func (h *Handler) updateV3Locked(keys []string) error {
	merged := map[string]*spec3.OpenAPI{}
	for _, key := range keys {
		var docs []*spec3.OpenAPI
		if static, ok := h.staticV3[key]; ok {
			docs = append(docs, static)
		}
		for _, c := range h.crds {
			if doc, ok := c.v3[key]; ok {
				docs = append(docs, doc)
			}
		}
		if len(docs) == 0 {
			merged[key] = nil
			continue
		}
		if len(docs) == 1 {
			merged[key] = docs[0]
			continue
		}
		doc, err := crdbuilder.MergeSpecsV3(docs...)
		if err != nil {
			return fmt.Errorf("openapi v3 %s: %w", key, err)
		}
		merged[key] = doc
	}
	for key, doc := range merged {
		if doc == nil {
			h.v3.DeleteGroupVersion(key)
			continue
		}
		h.v3.UpdateGroupVersion(key, doc)
	}
	return nil
}

// updateV2Locked publishes the built-in document merged with every CRD's;
// the merge runs once, when the document is first read after the change.
func (h *Handler) updateV2Locked() {
	crds := make([]*spec.Swagger, 0, len(h.crds))
	for _, c := range h.crds {
		crds = append(crds, c.v2)
	}
	static := h.staticV2
	// The etag tells kube-openapi's caches that the document changed.
	etag := uuid.NewString()
	h.v2.UpdateSpecLazy(cached.Once(cached.Func(func() (*spec.Swagger, string, error) {
		merged, err := crdbuilder.MergeSpecs(static, crds...)
		if err != nil {
			return nil, "", err
		}
		return merged, etag, nil
	})))
}
