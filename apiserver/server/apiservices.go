package server

import (
	"context"
	"errors"
	"reflect"
	"time"

	"go.uber.org/zap"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/workqueue"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/kube-aggregator/pkg/apis/apiregistration/v1/helper"
	"k8s.io/kube-aggregator/pkg/controllers/autoregister"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/genericstore"
	"coracle.dev/apiserver/internal/watchcache"
)

// Values of the autoregister label, kube-aggregator's: an APIService the
// server registers at every start (a built-in group-version, left alone
// once made, so an administrator may change it until the next restart),
// or one it keeps in line continuously (a CRD's group-version).
const (
	automanagedOnStart = "onstart"
	automanagedAlways  = "true"
)

// CRD group-versions rank below every built-in group, as kube-apiserver's
// crdregistration controller registers them; their versions are ordered
// among themselves by Kubernetes' version order.
const (
	crdGroupPriorityMinimum = 1000
	crdVersionPriority      = 100
)

// apiServicePriority is a built-in group-version's place in discovery:
// its group's among groups, its own within the group.
type apiServicePriority struct{ group, version int32 }

// apiServicePriorities are kube-apiserver's (cmd/kube-apiserver/app and
// pkg/controlplane/apiserver aggregator.go, merged). Only the
// group-versions listed get an APIService, as there; apiregistration.k8s.io
// itself has none, since the aggregator serves it.
var apiServicePriorities = map[schema.GroupVersion]apiServicePriority{
	{Group: "", Version: "v1"}:                                   {18000, 1},
	{Group: "events.k8s.io", Version: "v1"}:                      {17750, 15},
	{Group: "events.k8s.io", Version: "v1beta1"}:                 {17750, 5},
	{Group: "apps", Version: "v1"}:                               {17800, 15},
	{Group: "authentication.k8s.io", Version: "v1"}:              {17700, 15},
	{Group: "authentication.k8s.io", Version: "v1beta1"}:         {17700, 9},
	{Group: "authentication.k8s.io", Version: "v1alpha1"}:        {17700, 1},
	{Group: "authorization.k8s.io", Version: "v1"}:               {17600, 15},
	{Group: "autoscaling", Version: "v1"}:                        {17500, 15},
	{Group: "autoscaling", Version: "v2"}:                        {17500, 30},
	{Group: "autoscaling", Version: "v2beta1"}:                   {17500, 9},
	{Group: "autoscaling", Version: "v2beta2"}:                   {17500, 1},
	{Group: "batch", Version: "v1"}:                              {17400, 15},
	{Group: "batch", Version: "v1beta1"}:                         {17400, 9},
	{Group: "batch", Version: "v2alpha1"}:                        {17400, 9},
	{Group: "certificates.k8s.io", Version: "v1"}:                {17300, 15},
	{Group: "certificates.k8s.io", Version: "v1beta1"}:           {17300, 9},
	{Group: "certificates.k8s.io", Version: "v1alpha1"}:          {17300, 1},
	{Group: "networking.k8s.io", Version: "v1"}:                  {17200, 15},
	{Group: "networking.k8s.io", Version: "v1beta1"}:             {17200, 9},
	{Group: "policy", Version: "v1"}:                             {17100, 15},
	{Group: "policy", Version: "v1beta1"}:                        {17100, 9},
	{Group: "rbac.authorization.k8s.io", Version: "v1"}:          {17000, 15},
	{Group: "storage.k8s.io", Version: "v1"}:                     {16800, 15},
	{Group: "storage.k8s.io", Version: "v1beta1"}:                {16800, 9},
	{Group: "storage.k8s.io", Version: "v1alpha1"}:               {16800, 1},
	{Group: "apiextensions.k8s.io", Version: "v1"}:               {16700, 15},
	{Group: "admissionregistration.k8s.io", Version: "v1"}:       {16700, 15},
	{Group: "admissionregistration.k8s.io", Version: "v1beta1"}:  {16700, 12},
	{Group: "admissionregistration.k8s.io", Version: "v1alpha1"}: {16700, 9},
	{Group: "scheduling.k8s.io", Version: "v1"}:                  {16600, 15},
	{Group: "scheduling.k8s.io", Version: "v1beta1"}:             {16600, 9},
	{Group: "scheduling.k8s.io", Version: "v1alpha3"}:            {16600, 3},
	{Group: "coordination.k8s.io", Version: "v1"}:                {16500, 15},
	{Group: "coordination.k8s.io", Version: "v1beta1"}:           {16500, 13},
	{Group: "coordination.k8s.io", Version: "v1alpha2"}:          {16500, 12},
	{Group: "node.k8s.io", Version: "v1"}:                        {16300, 15},
	{Group: "node.k8s.io", Version: "v1beta1"}:                   {16300, 9},
	{Group: "node.k8s.io", Version: "v1alpha1"}:                  {16300, 1},
	{Group: "discovery.k8s.io", Version: "v1"}:                   {16200, 15},
	{Group: "discovery.k8s.io", Version: "v1beta1"}:              {16200, 12},
	{Group: "resource.k8s.io", Version: "v1"}:                    {16200, 21},
	{Group: "resource.k8s.io", Version: "v1beta2"}:               {16200, 15},
	{Group: "resource.k8s.io", Version: "v1beta1"}:               {16200, 9},
	{Group: "resource.k8s.io", Version: "v1alpha3"}:              {16200, 1},
	{Group: "flowcontrol.apiserver.k8s.io", Version: "v1"}:       {16100, 21},
	{Group: "flowcontrol.apiserver.k8s.io", Version: "v1beta3"}:  {16100, 18},
	{Group: "flowcontrol.apiserver.k8s.io", Version: "v1beta2"}:  {16100, 15},
	{Group: "flowcontrol.apiserver.k8s.io", Version: "v1beta1"}:  {16100, 12},
	{Group: "flowcontrol.apiserver.k8s.io", Version: "v1alpha1"}: {16100, 9},
	{Group: "internal.apiserver.k8s.io", Version: "v1alpha1"}:    {16000, 9},
	{Group: "storagemigration.k8s.io", Version: "v1"}:            {15800, 15},
	{Group: "storagemigration.k8s.io", Version: "v1beta1"}:       {15800, 9},
	{Group: "lifecycle.k8s.io", Version: "v1alpha1"}:             {15700, 1},
}

// apiServiceName is the name of a group-version's APIService: "v1.apps",
// and "v1." for the core group.
func apiServiceName(gv schema.GroupVersion) string { return gv.Version + "." + gv.Group }

// localAPIService is the APIService of a group-version the server serves
// itself, labeled with how it is managed.
func localAPIService(gv schema.GroupVersion, groupPriority, versionPriority int32, managed string) *apiregistrationv1.APIService {
	return &apiregistrationv1.APIService{
		ObjectMeta: metav1.ObjectMeta{
			Name:   apiServiceName(gv),
			Labels: map[string]string{autoregister.AutoRegisterManagedLabel: managed},
		},
		Spec: apiregistrationv1.APIServiceSpec{
			Group: gv.Group, Version: gv.Version,
			GroupPriorityMinimum: groupPriority, VersionPriority: versionPriority,
		},
	}
}

// desiredAPIServices are the local APIServices the server keeps, by
// name: one per served built-in group-version kube-apiserver registers
// (builtin lists what the registry serves; the priority table picks), and
// one per served version of each CRD, as kube-apiserver's crdregistration
// controller adds them whether or not the CRD is established yet. A
// built-in group-version wins over a CRD claiming the same one.
func desiredAPIServices(builtin []schema.GroupVersion, crds []*apiextensionsv1.CustomResourceDefinition) map[string]*apiregistrationv1.APIService {
	out := map[string]*apiregistrationv1.APIService{}
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			gv := schema.GroupVersion{Group: crd.Spec.Group, Version: v.Name}
			out[apiServiceName(gv)] = localAPIService(gv, crdGroupPriorityMinimum, crdVersionPriority, automanagedAlways)
		}
	}
	for _, gv := range builtin {
		if p, ok := apiServicePriorities[gv]; ok {
			out[apiServiceName(gv)] = localAPIService(gv, p.group, p.version, automanagedOnStart)
		}
	}
	return out
}

// apiServiceAction is what the registration does about one APIService.
type apiServiceAction int

const (
	apiServiceKeep apiServiceAction = iota
	apiServiceCreate
	apiServiceUpdateSpec
	apiServiceDelete
)

// registrationState is what the registration remembers of one name:
// whether it was synced once since the server started (an onstart
// APIService is then left alone), and whether an APIService of that name
// existed when the server started (an onstart one that did not is another
// apiserver's, of a newer version, not this one's to delete).
type registrationState struct{ synced, atStart bool }

// decideAPIService is kube-aggregator's autoregister decision for one
// name: desired is what the server wants (nil: nothing), cur what is
// stored (nil: nothing). Only APIServices carrying the autoregister label
// are ever changed or deleted: one an administrator made is theirs.
func decideAPIService(desired, cur *apiregistrationv1.APIService, st registrationState) apiServiceAction {
	switch {
	case cur == nil && desired == nil:
		return apiServiceKeep
	case isManagedOnStart(desired) && st.synced:
		return apiServiceKeep
	case cur == nil:
		return apiServiceCreate
	case !isManaged(cur):
		return apiServiceKeep
	case isManagedOnStart(cur) && (!st.atStart || st.synced):
		return apiServiceKeep
	case desired == nil:
		return apiServiceDelete
	case reflect.DeepEqual(cur.Spec, desired.Spec):
		return apiServiceKeep
	}
	return apiServiceUpdateSpec
}

func managedBy(svc *apiregistrationv1.APIService) string {
	if svc == nil {
		return ""
	}
	return svc.Labels[autoregister.AutoRegisterManagedLabel]
}

func isManaged(svc *apiregistrationv1.APIService) bool {
	m := managedBy(svc)
	return m == automanagedOnStart || m == automanagedAlways
}

func isManagedOnStart(svc *apiregistrationv1.APIService) bool {
	return managedBy(svc) == automanagedOnStart
}

// apiServiceRegistration keeps the local APIServices, as kube-aggregator's
// autoregister controller fed by kube-apiserver's served group-versions
// and its crdregistration controller: created at start and as CRDs come,
// their spec kept, deleted when a CRD's group-version goes. It also keeps
// every local APIService Available, as kube-aggregator's local
// availability controller: the server itself answers for them.
type apiServiceRegistration struct {
	s     *Server
	queue workqueue.TypedRateLimitingInterface[string] // APIService names

	// atStart and synced belong to the single worker.
	atStart map[string]bool
	synced  map[string]bool
}

func newAPIServiceRegistration(s *Server) *apiServiceRegistration {
	return &apiServiceRegistration{
		s:       s,
		queue:   workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		atStart: map[string]bool{},
		synced:  map[string]bool{},
	}
}

func (r *apiServiceRegistration) store() *genericstore.Store {
	return r.s.store(apiregistrationv1.GroupName, "apiservices")
}

// runAPIServiceRegistration keeps the local APIServices until ctx ends.
func (s *Server) runAPIServiceRegistration(ctx context.Context) {
	newAPIServiceRegistration(s).run(ctx)
}

func (r *apiServiceRegistration) run(ctx context.Context) {
	defer r.queue.ShutDown()
	go func() {
		<-ctx.Done()
		r.queue.ShutDown()
	}()
	services, crds := r.store().Cache(), r.s.custom.crdStore().Cache()
	// The CRDs must be listed before anything is decided, or the CRDs'
	// APIServices found at start would look unwanted and be deleted.
	for !services.Ready() || !crds.Ready() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	items, _ := services.List(watchcache.Predicate{})
	for _, obj := range items {
		r.atStart[obj.(*apiregistrationv1.APIService).Name] = true
	}
	for name := range r.desired() {
		r.queue.Add(name)
	}
	go r.s.follow(ctx, services, "apiservices", func(initial []watchcache.Delivery) {
		for _, d := range initial {
			r.enqueue(d.Object)
		}
	}, func(d watchcache.Delivery) {
		if d.Type != watch.Bookmark {
			r.enqueue(d.Object)
		}
	})
	go r.s.follow(ctx, crds, "custom resource definitions for apiservices", func(initial []watchcache.Delivery) {
		for _, d := range initial {
			r.enqueueCRD(d.Object)
		}
	}, func(d watchcache.Delivery) {
		if d.Type != watch.Bookmark {
			r.enqueueCRD(d.Object)
		}
	})
	r.work(ctx)
}

func (r *apiServiceRegistration) enqueue(obj runtime.Object) {
	if svc, ok := obj.(*apiregistrationv1.APIService); ok {
		r.queue.Add(svc.Name)
	}
}

// enqueueCRD looks again at a CRD's group-versions, and at every
// APIService kept for CRDs: a version a CRD no longer serves is known
// only from what was registered for it.
func (r *apiServiceRegistration) enqueueCRD(obj runtime.Object) {
	crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
	if !ok {
		return
	}
	for _, v := range crd.Spec.Versions {
		r.queue.Add(apiServiceName(schema.GroupVersion{Group: crd.Spec.Group, Version: v.Name}))
	}
	items, _ := r.store().Cache().List(watchcache.Predicate{})
	for _, o := range items {
		if svc := o.(*apiregistrationv1.APIService); managedBy(svc) == automanagedAlways {
			r.queue.Add(svc.Name)
		}
	}
}

// desired computes the wanted APIServices from the registry's built-in
// group-versions and the stored CRDs.
func (r *apiServiceRegistration) desired() map[string]*apiregistrationv1.APIService {
	var builtin []schema.GroupVersion
	for _, g := range r.s.registry.Groups() {
		for _, v := range r.s.registry.Versions(g) {
			builtin = append(builtin, schema.GroupVersion{Group: g, Version: v})
		}
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	items, _ := r.s.custom.crdStore().Cache().List(watchcache.Predicate{})
	for _, obj := range items {
		crds = append(crds, obj.(*apiextensionsv1.CustomResourceDefinition))
	}
	return desiredAPIServices(builtin, crds)
}

// work is the single worker: one is plenty for a few dozen objects, and
// it lets atStart and synced go without a lock.
func (r *apiServiceRegistration) work(ctx context.Context) {
	for {
		name, quit := r.queue.Get()
		if quit {
			return
		}
		err := r.sync(ctx, name)
		if err == nil {
			r.queue.Forget(name)
		} else {
			if ctx.Err() == nil {
				r.s.log.Warn("apiservice registration: sync", zap.String("apiservice", name), zap.Error(err))
			}
			r.queue.AddRateLimited(name)
		}
		r.queue.Done(name)
	}
}

func (r *apiServiceRegistration) sync(ctx context.Context, name string) error {
	desired := r.desired()[name]
	var cur *apiregistrationv1.APIService
	if obj := r.s.cached(apiregistrationv1.GroupName, "apiservices", "", name); obj != nil {
		cur = obj.(*apiregistrationv1.APIService)
	}
	action := decideAPIService(desired, cur, registrationState{synced: r.synced[name], atStart: r.atStart[name]})
	err := r.apply(ctx, action, name, desired, cur)
	if err == nil {
		r.synced[name] = true
		err = r.keepLocalAvailable(ctx, name)
	}
	return err
}

func (r *apiServiceRegistration) apply(ctx context.Context, action apiServiceAction, name string, desired, cur *apiregistrationv1.APIService) error {
	switch action {
	case apiServiceCreate:
		_, err := r.store().Create(ctx, "", desired.DeepCopy(), genericstore.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil // the cache is behind; the event brings it back
		}
		if err == nil {
			r.s.log.Debug("apiservice registered", zap.String("apiservice", name))
		}
		return err
	case apiServiceUpdateSpec:
		_, err := r.store().Update(ctx, "", name, func(obj runtime.Object) (runtime.Object, error) {
			if obj == nil {
				return nil, apierrors.NewNotFound(apiregistrationv1.Resource("apiservices"), name)
			}
			svc := obj.(*apiregistrationv1.APIService)
			svc.Spec = desired.Spec
			return svc, nil
		}, genericstore.UpdateOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	case apiServiceDelete:
		uid := cur.UID
		_, err := r.store().Delete(ctx, "", name, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}, false)
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		if err == nil {
			r.s.log.Debug("apiservice unregistered", zap.String("apiservice", name))
		}
		return err
	}
	return nil
}

// keepLocalAvailable sets Available True (Local) on a local APIService
// that lacks it (one turned local from remote keeps the old condition
// otherwise), as kube-aggregator's local availability controller.
func (r *apiServiceRegistration) keepLocalAvailable(ctx context.Context, name string) error {
	obj := r.s.cached(apiregistrationv1.GroupName, "apiservices", "", name)
	if obj == nil {
		return nil
	}
	if svc := obj.(*apiregistrationv1.APIService); svc.Spec.Service != nil || localAvailable(svc) {
		return nil
	}
	_, err := r.store().Update(ctx, "", name, func(obj runtime.Object) (runtime.Object, error) {
		if obj == nil {
			return nil, apierrors.NewNotFound(apiregistrationv1.Resource("apiservices"), name)
		}
		svc := obj.(*apiregistrationv1.APIService)
		if svc.Spec.Service != nil {
			return nil, errNotLocal
		}
		helper.SetAPIServiceCondition(svc, helper.NewLocalAvailableAPIServiceCondition())
		return svc, nil
	}, genericstore.UpdateOptions{Subresource: apiresource.Status})
	if apierrors.IsNotFound(err) || errors.Is(err, errNotLocal) {
		return nil
	}
	return err
}

// errNotLocal stops a status write to an APIService that has turned
// remote meanwhile.
var errNotLocal = errors.New("apiservice is not local")

// localAvailable reports whether svc says what a local APIService says.
func localAvailable(svc *apiregistrationv1.APIService) bool {
	c := helper.GetAPIServiceConditionByType(svc, apiregistrationv1.Available)
	want := helper.NewLocalAvailableAPIServiceCondition()
	return c != nil && c.Status == want.Status && c.Reason == want.Reason && c.Message == want.Message
}
