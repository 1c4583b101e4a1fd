package aggregator

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/endpoints"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)

// acceptAggregated asks for aggregated discovery first, as
// kube-aggregator's discovery manager does.
const acceptAggregated = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"

// Discovery fetches what svc's extension apiserver serves at svc's
// group-version: from its aggregated discovery (/apis, apidiscovery v2)
// when it offers it, else from the group-version's APIResourceList,
// converted, as kube-aggregator's discovery manager falls back.
func (a *Aggregator) Discovery(ctx context.Context, svc *apiregistrationv1.APIService) (apidiscoveryv2.APIVersionDiscovery, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	root := "/apis"
	if svc.Spec.Group == "" {
		root = "/api"
	}
	code, contentType, body, err := a.get(ctx, svc, root, acceptAggregated)
	if err != nil {
		return apidiscoveryv2.APIVersionDiscovery{}, err
	}
	if code == http.StatusOK && isAggregated(contentType) {
		var list apidiscoveryv2.APIGroupDiscoveryList
		if err := json.Unmarshal(body, &list); err != nil {
			return apidiscoveryv2.APIVersionDiscovery{}, fmt.Errorf("decode aggregated discovery of %s: %w", svc.Name, err)
		}
		for _, g := range list.Items {
			if g.Name != svc.Spec.Group {
				continue
			}
			for _, v := range g.Versions {
				if v.Version == svc.Spec.Version {
					return v, nil
				}
			}
		}
		return apidiscoveryv2.APIVersionDiscovery{}, fmt.Errorf("aggregated discovery of %s does not list %s/%s", svc.Name, svc.Spec.Group, svc.Spec.Version)
	}
	path := root + "/" + svc.Spec.Version
	if svc.Spec.Group != "" {
		path = root + "/" + svc.Spec.Group + "/" + svc.Spec.Version
	}
	code, _, body, err = a.get(ctx, svc, path, "application/json")
	if err != nil {
		return apidiscoveryv2.APIVersionDiscovery{}, err
	}
	if code != http.StatusOK {
		return apidiscoveryv2.APIVersionDiscovery{}, fmt.Errorf("failed to download legacy discovery for %s: %d", path, code)
	}
	var list metav1.APIResourceList
	if err := json.Unmarshal(body, &list); err != nil {
		return apidiscoveryv2.APIVersionDiscovery{}, fmt.Errorf("decode discovery of %s: %w", path, err)
	}
	resources, err := endpoints.ConvertGroupVersionIntoToDiscovery(list.APIResources)
	if err != nil {
		return apidiscoveryv2.APIVersionDiscovery{}, err
	}
	return apidiscoveryv2.APIVersionDiscovery{Version: svc.Spec.Version, Resources: resources, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}, nil
}

// isAggregated reports whether a response's content type is aggregated
// discovery.
func isAggregated(contentType string) bool {
	media, params, err := mime.ParseMediaType(contentType)
	return err == nil && media == "application/json" &&
		params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList"
}
