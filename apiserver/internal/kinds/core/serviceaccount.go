package core

import "coracle.dev/apiserver/internal/resource"

// serviceAccountStrategy: Kubernetes checks nothing in a ServiceAccount
// beyond its metadata, which the registry validates.
type serviceAccountStrategy struct{ resource.DefaultStrategy }
