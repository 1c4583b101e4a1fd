// Package generated holds the OpenAPI definitions of the built-in types
// (GetOpenAPIDefinitions), made by Kubernetes' openapi-gen from the Go
// source of k8s.io/api, apiextensions v1 and apimachinery, as
// kube-apiserver's pkg/generated/openapi. Regenerate it with
// apiserver/hack/update-openapi.sh (or go generate in this directory)
// after a k8s.io/api update or to serve another API version.
package generated

//go:generate ../../../hack/update-openapi.sh
