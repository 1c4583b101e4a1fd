package core

import "coracle.dev/apiserver/internal/apiresource"

// serviceAccountStrategy: Kubernetes checks nothing in a ServiceAccount
// beyond its metadata, which the generic store validates.
type serviceAccountStrategy struct{ apiresource.DefaultStrategy }
