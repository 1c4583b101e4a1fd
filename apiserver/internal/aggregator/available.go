package aggregator

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)

// Objects reads what an APIService's availability depends on.
type Objects interface {
	// Service returns a Service, or a NotFound error.
	Service(ctx context.Context, namespace, name string) (*corev1.Service, error)
	// EndpointSlices returns the EndpointSlices of a Service.
	EndpointSlices(ctx context.Context, namespace, service string) ([]*discoveryv1.EndpointSlice, error)
}

// probeTimeout bounds one discovery probe, as kube-aggregator's client.
const probeTimeout = 5 * time.Second

// Available judges a remote APIService as kube-aggregator's availability
// controller: its Service must exist; a ClusterIP Service must listen on
// the port and have ready endpoints for it; and the extension apiserver
// must answer GET /apis/<group>/<version> (/api/v1 for the core group)
// with a 2xx. The condition says which check failed (ServiceNotFound,
// ServicePortError, EndpointsNotFound, MissingEndpoints,
// FailedDiscoveryCheck, ...) or that all passed.
func (a *Aggregator) Available(ctx context.Context, objects Objects, svc *apiregistrationv1.APIService) apiregistrationv1.APIServiceCondition {
	ref := svc.Spec.Service
	cond := func(status apiregistrationv1.ConditionStatus, reason, msg string, args ...any) apiregistrationv1.APIServiceCondition {
		return apiregistrationv1.APIServiceCondition{
			Type: apiregistrationv1.Available, Status: status, LastTransitionTime: metav1.Now(),
			Reason: reason, Message: fmt.Sprintf(msg, args...),
		}
	}
	port := int32(443)
	if ref.Port != nil {
		port = *ref.Port
	}
	service, err := objects.Service(ctx, ref.Namespace, ref.Name)
	switch {
	case apierrors.IsNotFound(err):
		return cond(apiregistrationv1.ConditionFalse, "ServiceNotFound", "service/%s in %q is not present", ref.Name, ref.Namespace)
	case err != nil:
		return cond(apiregistrationv1.ConditionUnknown, "ServiceAccessError", "service/%s in %q cannot be checked due to: %v", ref.Name, ref.Namespace, err)
	}
	if service.Spec.Type == corev1.ServiceTypeClusterIP {
		i := slices.IndexFunc(service.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == port })
		if i < 0 {
			return cond(apiregistrationv1.ConditionFalse, "ServicePortError", "service/%s in %q is not listening on port %d", ref.Name, ref.Namespace, port)
		}
		portName := service.Spec.Ports[i].Name
		eps, err := objects.EndpointSlices(ctx, ref.Namespace, ref.Name)
		switch {
		case err != nil:
			return cond(apiregistrationv1.ConditionUnknown, "EndpointsAccessError", "service/%s in %q cannot be checked due to: %v", ref.Name, ref.Namespace, err)
		case len(eps) == 0:
			return cond(apiregistrationv1.ConditionFalse, "EndpointsNotFound", "cannot find endpointslices for service/%s in %q", ref.Name, ref.Namespace)
		case !hasReadyEndpoint(portName, eps):
			return cond(apiregistrationv1.ConditionFalse, "MissingEndpoints", "endpointslices for service/%s in %q have no addresses with port name %q", ref.Name, ref.Namespace, portName)
		}
	}
	if err := a.probe(ctx, svc); err != nil {
		return cond(apiregistrationv1.ConditionFalse, "FailedDiscoveryCheck", "%v", err)
	}
	return cond(apiregistrationv1.ConditionTrue, "Passed", "all checks passed")
}

// hasReadyEndpoint reports whether a slice has a ready endpoint and the
// named port.
func hasReadyEndpoint(portName string, all []*discoveryv1.EndpointSlice) bool {
	return slices.ContainsFunc(all, func(s *discoveryv1.EndpointSlice) bool {
		ready := slices.ContainsFunc(s.Endpoints, func(e discoveryv1.Endpoint) bool {
			return e.Conditions.Ready == nil || *e.Conditions.Ready
		})
		return ready && slices.ContainsFunc(s.Ports, func(p discoveryv1.EndpointPort) bool {
			return p.Name != nil && *p.Name == portName && p.Port != nil
		})
	})
}

// probe asks the extension apiserver for the group-version's discovery,
// a path every apiserver must serve.
func (a *Aggregator) probe(ctx context.Context, svc *apiregistrationv1.APIService) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	path := "/apis/" + svc.Spec.Group + "/" + svc.Spec.Version
	if svc.Spec.Group == "" {
		path = "/api/" + svc.Spec.Version
	}
	code, _, _, err := a.get(ctx, svc, path, "")
	if err != nil {
		return err
	}
	if code < http.StatusOK || code >= http.StatusMultipleChoices {
		loc, _ := a.location(svc, path, "")
		return fmt.Errorf("bad status from %v: %d", loc, code)
	}
	return nil
}
