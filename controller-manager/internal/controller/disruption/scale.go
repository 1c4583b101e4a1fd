package disruption

import (
	"context"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/scale"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller"
)

// owner is a pod's controller and the number of pods it wants.
type owner struct {
	uid   types.UID
	scale int32
}

// finder returns the controller ref names, if ref is of the kind it
// knows and the object still exists with ref's UID; nil otherwise.
type finder func(ctx context.Context, ref *metav1.OwnerReference, namespace string) (*owner, error)

// scales finds how many pods a budget's pods' controllers want: the
// workload kinds from the informers' caches, any other kind through its
// scale subresource, as Kubernetes' disruption controller does.
type scales struct {
	rcs         corelisters.ReplicationControllerLister
	rss         appslisters.ReplicaSetLister
	deployments appslisters.DeploymentLister
	sets        appslisters.StatefulSetLister
	mapper      meta.RESTMapper
	client      scale.ScalesGetter
	discovery   discovery.DiscoveryInterface
}

func newScales(c controller.Context) *scales {
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Discovery))
	return &scales{
		rcs:         c.Informers.Core().V1().ReplicationControllers().Lister(),
		rss:         c.Informers.Apps().V1().ReplicaSets().Lister(),
		deployments: c.Informers.Apps().V1().Deployments().Lister(),
		sets:        c.Informers.Apps().V1().StatefulSets().Lister(),
		mapper:      mapper,
		// The scale client builds each request's absolute path itself:
		// any client to the apiserver does as its base.
		client:    scale.New(c.Discovery.RESTClient(), mapper, dynamic.LegacyAPIPathResolverFunc, scale.NewDiscoveryScaleKindResolver(c.Discovery)),
		discovery: c.Discovery,
	}
}

// expected sums the scale of the controllers of pods, each once. Pods
// with no controller are returned as unmanaged; a controller no finder
// knows is an error.
func (s *scales) expected(ctx context.Context, pods []*corev1.Pod) (int32, []string, error) {
	seen := map[types.UID]int32{}
	var unmanaged []string
	for _, pod := range pods {
		ref := metav1.GetControllerOfNoCopy(pod)
		if ref == nil {
			unmanaged = append(unmanaged, pod.Name)
			continue
		}
		if _, ok := seen[ref.UID]; ok {
			continue
		}
		found := false
		for _, find := range []finder{s.replicationController, s.deployment, s.replicaSet, s.statefulSet, s.scaleSubresource} {
			o, err := find(ctx, ref, pod.Namespace)
			if err != nil {
				return 0, nil, err
			}
			if o != nil {
				seen[o.uid], found = o.scale, true
				break
			}
		}
		if !found {
			return 0, nil, fmt.Errorf("found no controllers for pod %q", pod.Name)
		}
	}
	var total int32
	for _, n := range seen {
		total += n
	}
	return total, unmanaged, nil
}

// isKind reports whether ref names an object of kind in one of groups.
func isKind(ref *metav1.OwnerReference, kind string, groups ...string) (bool, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return false, err
	}
	return ref.Kind == kind && slices.Contains(groups, gv.Group), nil
}

func (s *scales) replicationController(_ context.Context, ref *metav1.OwnerReference, ns string) (*owner, error) {
	if ok, err := isKind(ref, "ReplicationController", ""); !ok || err != nil {
		return nil, err
	}
	rc, err := s.rcs.ReplicationControllers(ns).Get(ref.Name)
	if err != nil || rc.UID != ref.UID {
		// Not found is the only error a lister gives: not this kind's.
		return nil, nil
	}
	return &owner{rc.UID, ptr.Deref(rc.Spec.Replicas, 1)}, nil
}

// replicaSetOf is the ReplicaSet ref names, if it still exists.
func (s *scales) replicaSetOf(ref *metav1.OwnerReference, ns string) (*appsv1.ReplicaSet, error) {
	if ok, err := isKind(ref, "ReplicaSet", "apps", "extensions"); !ok || err != nil {
		return nil, err
	}
	rs, err := s.rss.ReplicaSets(ns).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil, nil
	}
	return rs, nil
}

// deployment is the Deployment behind a pod's ReplicaSet: a rollout's
// old and new ReplicaSets share one scale, the Deployment's.
func (s *scales) deployment(_ context.Context, ref *metav1.OwnerReference, ns string) (*owner, error) {
	rs, err := s.replicaSetOf(ref, ns)
	if rs == nil || err != nil {
		return nil, err
	}
	dref := metav1.GetControllerOfNoCopy(rs)
	if dref == nil {
		return nil, nil
	}
	if ok, err := isKind(dref, "Deployment", "apps", "extensions"); !ok || err != nil {
		return nil, err
	}
	d, err := s.deployments.Deployments(ns).Get(dref.Name)
	if err != nil || d.UID != dref.UID {
		return nil, nil
	}
	return &owner{d.UID, ptr.Deref(d.Spec.Replicas, 1)}, nil
}

// replicaSet is a ReplicaSet no Deployment controls.
func (s *scales) replicaSet(_ context.Context, ref *metav1.OwnerReference, ns string) (*owner, error) {
	rs, err := s.replicaSetOf(ref, ns)
	if rs == nil || err != nil {
		return nil, err
	}
	if dref := metav1.GetControllerOfNoCopy(rs); dref != nil && dref.Kind == "Deployment" {
		return nil, nil
	}
	return &owner{rs.UID, ptr.Deref(rs.Spec.Replicas, 1)}, nil
}

func (s *scales) statefulSet(_ context.Context, ref *metav1.OwnerReference, ns string) (*owner, error) {
	if ok, err := isKind(ref, "StatefulSet", "apps"); !ok || err != nil {
		return nil, err
	}
	set, err := s.sets.StatefulSets(ns).Get(ref.Name)
	if err != nil || set.UID != ref.UID {
		return nil, nil
	}
	return &owner{set.UID, ptr.Deref(set.Spec.Replicas, 1)}, nil
}

// scaleSubresource reads any other controller's scale subresource (a
// custom resource's, say). A 404 is either no such object (not this
// controller) or no scale subresource, which is an error to report.
func (s *scales) scaleSubresource(ctx context.Context, ref *metav1.OwnerReference, ns string) (*owner, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, err
	}
	mapping, err := s.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.Kind}, gv.Version)
	if err != nil {
		return nil, err
	}
	gr := mapping.Resource.GroupResource()
	sc, err := s.client.Scales(ns).Get(ctx, gr, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		ok, err := s.servesScale(mapping.Resource)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%s does not implement the scale subresource", gr.String())
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if sc.UID != ref.UID {
		return nil, nil
	}
	return &owner{sc.UID, sc.Spec.Replicas}, nil
}

// servesScale reports whether the apiserver lists a scale subresource of
// kind Scale for gvr.
func (s *scales) servesScale(gvr schema.GroupVersionResource) (bool, error) {
	list, err := s.discovery.ServerResourcesForGroupVersion(gvr.GroupVersion().String())
	if err != nil {
		return false, err
	}
	for _, r := range list.APIResources {
		if r.Name == gvr.Resource+"/scale" && r.Kind == "Scale" {
			return true, nil
		}
	}
	return false, nil
}
