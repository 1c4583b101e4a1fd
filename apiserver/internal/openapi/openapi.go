// Package openapi serves /openapi/v3: one document per group-version
// listing the kinds' paths and operations. The documents carry no schemas;
// they exist so clients can learn what the server does, chiefly kubectl,
// which reads from the PATCH operations that the server validates fields
// itself (the fieldValidation parameter) and then skips its own
// schema-based validation.
package openapi

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"coracle.dev/apiserver/internal/apiresource"
)

// Handler serves the OpenAPI v3 root and per-group-version documents.
type Handler struct {
	docs map[string][]byte // "api/v1", "apis/apps/v1" -> document
	root []byte
}

// New builds every document from the registry once.
func New(reg *apiresource.Registry, kubeVersion string) (*Handler, error) {
	h := &Handler{docs: map[string][]byte{}}
	type rootEntry struct {
		ServerRelativeURL string `json:"serverRelativeURL"`
	}
	root := struct {
		Paths map[string]rootEntry `json:"paths"`
	}{Paths: map[string]rootEntry{}}
	for _, group := range reg.Groups() {
		for _, version := range reg.Versions(group) {
			key := "apis/" + group + "/" + version
			if group == "" {
				key = "api/" + version
			}
			doc, err := json.Marshal(document(reg.InGroupVersion(group, version), key, kubeVersion))
			if err != nil {
				return nil, fmt.Errorf("openapi %s: %w", key, err)
			}
			h.docs[key] = doc
			sum := sha512.Sum512(doc)
			root.Paths[key] = rootEntry{ServerRelativeURL: "/openapi/v3/" + key + "?hash=" + strings.ToUpper(hex.EncodeToString(sum[:]))}
		}
	}
	var err error
	if h.root, err = json.Marshal(root); err != nil {
		return nil, err
	}
	return h, nil
}

// Install registers the routes.
func (h *Handler) Install(r gin.IRoutes) {
	r.GET("/openapi/v3", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", h.root) })
	r.GET("/openapi/v3/*path", func(c *gin.Context) {
		doc, ok := h.docs[strings.Trim(c.Param("path"), "/")]
		if !ok {
			c.JSON(http.StatusNotFound, gin.H{"kind": "Status", "apiVersion": "v1", "status": "Failure",
				"message": "the server could not find the requested resource", "reason": "NotFound", "code": 404})
			return
		}
		if c.Query("hash") != "" {
			c.Header("Cache-Control", "public, immutable")
		}
		c.Data(http.StatusOK, "application/json", doc)
	})
}

type gvk struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

type parameter struct {
	Name   string         `json:"name"`
	In     string         `json:"in"`
	Schema map[string]any `json:"schema"`
}

type operation struct {
	OperationID string         `json:"operationId"`
	Parameters  []parameter    `json:"parameters,omitempty"`
	GVK         gvk            `json:"x-kubernetes-group-version-kind"`
	Action      string         `json:"x-kubernetes-action"`
	Responses   map[string]any `json:"responses"`
}

type pathItem struct {
	Get    *operation `json:"get,omitempty"`
	Put    *operation `json:"put,omitempty"`
	Post   *operation `json:"post,omitempty"`
	Patch  *operation `json:"patch,omitempty"`
	Delete *operation `json:"delete,omitempty"`
}

func query(names ...string) []parameter {
	out := make([]parameter, len(names))
	for i, n := range names {
		out[i] = parameter{Name: n, In: "query", Schema: map[string]any{"type": "string"}}
	}
	return out
}

var writeParams = []string{"dryRun", "fieldManager", "fieldValidation", "pretty"}

func document(descs []*apiresource.Descriptor, key, kubeVersion string) map[string]any {
	paths := map[string]*pathItem{}
	ok := map[string]any{"200": map[string]any{"description": "OK"}}
	for _, d := range descs {
		base := "/" + key
		if d.Namespaced {
			base += "/namespaces/{namespace}"
		}
		collection := base + "/" + d.Resource
		item := collection + "/{name}"
		g := gvk{Group: d.Group, Version: d.Version, Kind: d.Kind}
		op := func(verb, action string, params []string) *operation {
			return &operation{OperationID: verb + d.Kind, GVK: g, Action: action, Parameters: query(params...), Responses: ok}
		}
		if d.Virtual() {
			paths[collection] = &pathItem{Post: op("create", "post", writeParams)}
			continue
		}
		paths[collection] = &pathItem{
			Get:    op("list", "list", []string{"labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch"}),
			Post:   op("create", "post", writeParams),
			Delete: op("deletecollection", "deletecollection", []string{"labelSelector", "fieldSelector", "gracePeriodSeconds", "propagationPolicy", "dryRun"}),
		}
		paths[item] = &pathItem{
			Get:    op("read", "get", nil),
			Put:    op("replace", "put", writeParams),
			Patch:  op("patch", "patch", append([]string{"force"}, writeParams...)),
			Delete: op("delete", "delete", []string{"gracePeriodSeconds", "propagationPolicy", "dryRun"}),
		}
		for sub, name := range map[string]string{apiresource.Status: "Status", apiresource.Approval: "Approval"} {
			if d.HasSubresource(sub) {
				paths[item+"/"+sub] = &pathItem{
					Get:   op("read"+name, "get", nil),
					Put:   op("replace"+name, "put", writeParams),
					Patch: op("patch"+name, "patch", writeParams),
				}
			}
		}
	}
	return map[string]any{
		"openapi":    "3.0.0",
		"info":       map[string]any{"title": "Kubernetes", "version": kubeVersion},
		"paths":      paths,
		"components": map[string]any{"schemas": map[string]any{}},
	}
}
