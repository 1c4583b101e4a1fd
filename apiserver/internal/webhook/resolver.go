package webhook

import "k8s.io/apiserver/pkg/util/webhook"

// NewServiceResolver resolves a webhook's service reference to the
// Service's ClusterIP, as admission webhooks are; CRD conversion
// webhooks use it too.
func NewServiceResolver(services Services) webhook.ServiceResolver {
	return serviceResolver{services: services}
}
