package apiresource

import "k8s.io/apimachinery/pkg/api/equality"

// semanticEqual compares as Kubernetes does: quantities by value, nil and
// empty slices and maps alike.
func semanticEqual(a, b any) bool { return equality.Semantic.DeepEqual(a, b) }
