package endpoints

import (
	"encoding/json"
	"fmt"
	"net/http"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/genericstore"
)

func (r *request) serveSubresource() {
	sub := r.info.Subresource
	if !r.desc.HasSubresource(sub) {
		r.fail(notFound())
		return
	}
	switch sub {
	case apiresource.Status, apiresource.Approval, apiresource.EphemeralContainers, apiresource.Resize:
		r.serveStatus()
	case apiresource.Scale:
		r.serveScale()
	case apiresource.Binding:
		r.onlyVerb(VerbCreate, r.bind)
	case apiresource.Eviction:
		r.onlyVerb(VerbCreate, r.evict)
	case apiresource.Finalize:
		r.onlyVerb(VerbUpdate, r.finalize)
	case apiresource.Log:
		r.servePodLog()
	case apiresource.Exec:
		r.servePodExec()
	case apiresource.Attach:
		r.servePodAttach()
	case apiresource.PortForward:
		r.servePodPortForward()
	case apiresource.Proxy:
		r.serveProxy()
	default:
		if act, ok := r.desc.Actions[sub]; ok {
			r.onlyVerb(VerbCreate, func() { r.act(act) })
			return
		}
		r.fail(notFound())
	}
}

// review serves a virtual kind (TokenReview, SubjectAccessReview…): a
// create whose answer is computed, stored nowhere, 201 as Kubernetes.
func (r *request) review() {
	if r.info.Verb != VerbCreate || r.info.Name != "" || r.info.Subresource != "" {
		r.fail(methodNotSupported(r.desc.GroupResource(), r.info.Verb))
		return
	}
	out, ok := r.negotiated()
	if !ok {
		return
	}
	obj, warnings, err := r.decodeBody()
	if err != nil {
		r.fail(err)
		return
	}
	res, err := r.desc.Create(r.ctx(), r.info.Namespace, obj)
	addWarnings(r.c, warnings)
	if err != nil {
		r.fail(err)
		return
	}
	res.GetObjectKind().SetGroupVersionKind(r.desc.GVK())
	r.respond(http.StatusCreated, res, out)
}

// act serves a create-only subresource with a body of its own kind
// (serviceaccounts/token).
func (r *request) act(act *apiresource.Action) {
	out, ok := r.negotiated()
	if !ok {
		return
	}
	validation, err := fieldValidation(r.c)
	if err != nil {
		r.fail(err)
		return
	}
	data, err := readBody(r.c, r.api.opts.MaxBodyBytes)
	if err != nil {
		r.fail(err)
		return
	}
	if data, err = bodyJSON(r.c, data); err != nil {
		r.fail(err)
		return
	}
	body := act.New()
	warnings, err := r.api.dec.decodeInto(data, body, act.GVK.GroupVersion().String(), act.GVK.Kind, validation)
	if err != nil {
		r.fail(err)
		return
	}
	res, err := act.Do(r.ctx(), r.info.Namespace, r.info.Name, body)
	addWarnings(r.c, warnings)
	if err != nil {
		r.fail(err)
		return
	}
	res.GetObjectKind().SetGroupVersionKind(act.GVK)
	r.respond(http.StatusCreated, res, out)
}

func (r *request) onlyVerb(verb string, serve func()) {
	if r.info.Verb != verb {
		r.fail(methodNotSupported(r.desc.GroupResource(), r.info.Verb))
		return
	}
	serve()
}

// serveStatus serves the subresources that read and write the whole
// object (status; CertificateSigningRequests' approval; pods'
// ephemeralcontainers and resize): the store keeps what the subresource may not
// change.
func (r *request) serveStatus() {
	switch r.info.Verb {
	case VerbGet:
		r.get()
	case VerbUpdate:
		r.update()
	case VerbPatch:
		r.patch(r.info.Subresource)
	default:
		r.fail(methodNotSupported(r.desc.GroupResource(), r.info.Verb))
	}
}

// scaleOf builds the autoscaling/v1 Scale of obj.
func (r *request) scaleOf(obj runtime.Object) *autoscalingv1.Scale {
	m, _ := meta.Accessor(obj)
	spec, status, selector := r.desc.Scale.Get(obj)
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
	}
}

func (r *request) serveScale() {
	out, ok := r.negotiated()
	if !ok {
		return
	}
	if r.info.Verb == VerbGet {
		obj, err := r.store.Get(r.ctx(), r.info.Namespace, r.info.Name)
		if err != nil {
			r.fail(err)
			return
		}
		writeObject(r.c, http.StatusOK, r.scaleOf(obj), out)
		return
	}
	if r.info.Verb != VerbUpdate && r.info.Verb != VerbPatch {
		r.fail(methodNotSupported(r.desc.GroupResource(), r.info.Verb))
		return
	}
	dry, err := r.dryRun()
	if err != nil {
		r.fail(err)
		return
	}
	body, err := readBody(r.c, r.api.opts.MaxBodyBytes)
	if err != nil {
		r.fail(err)
		return
	}
	var pt types.PatchType
	if r.info.Verb == VerbPatch {
		if pt, err = patchType(r.c.GetHeader("Content-Type")); err != nil {
			r.fail(err)
			return
		}
	} else if body, err = bodyJSON(r.c, body); err != nil {
		r.fail(err)
		return
	}
	res, err := r.store.Update(r.ctx(), r.info.Namespace, r.info.Name, func(current runtime.Object) (runtime.Object, error) {
		if current == nil {
			return nil, apierrors.NewNotFound(r.desc.GroupResource(), r.info.Name)
		}
		scale, err := r.desiredScale(current, body, pt)
		if err != nil {
			return nil, err
		}
		if scale.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(autoscalingv1.SchemeGroupVersion.WithKind("Scale").GroupKind(), r.info.Name,
				fieldErrors("spec.replicas", fmt.Sprint(scale.Spec.Replicas), "must be greater than or equal to 0"))
		}
		m, _ := meta.Accessor(current)
		if scale.ResourceVersion != "" && scale.ResourceVersion != m.GetResourceVersion() {
			return nil, apierrors.NewConflict(r.desc.GroupResource(), r.info.Name, fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
		}
		m.SetResourceVersion(scale.ResourceVersion)
		r.desc.Scale.Set(current, scale.Spec.Replicas)
		return current, nil
	}, genericstore.UpdateOptions{DryRun: dry})
	addWarnings(r.c, res.Warnings)
	if err != nil {
		r.fail(err)
		return
	}
	writeObject(r.c, http.StatusOK, r.scaleOf(res.Object), out)
}

// desiredScale is the Scale the request asks for: the body of a PUT, or the
// current Scale with the patch applied.
func (r *request) desiredScale(current runtime.Object, body []byte, pt types.PatchType) (*autoscalingv1.Scale, error) {
	scale := &autoscalingv1.Scale{}
	if pt == "" {
		if _, err := r.api.dec.decodeInto(body, scale, "autoscaling/v1", "Scale", fieldValidationStrict); err != nil {
			return nil, err
		}
		if scale.Name != "" && scale.Name != r.info.Name {
			return nil, nameMismatch(scale.Name, r.info.Name)
		}
		return scale, nil
	}
	cur := r.scaleOf(current)
	curJSON, _ := json.Marshal(cur)
	patched, err := applyPatch(pt, curJSON, body, &autoscalingv1.Scale{})
	if err != nil {
		return nil, err
	}
	if _, err := r.api.dec.decodeInto(patched, scale, "autoscaling/v1", "Scale", fieldValidationStrict); err != nil {
		return nil, err
	}
	if !patchSetsResourceVersion(pt, body) {
		scale.ResourceVersion = ""
	}
	return scale, nil
}

func nameMismatch(inBody, inURL string) error {
	return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", inBody, inURL))
}

func successStatus(code int) *metav1.Status {
	return &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: int32(code)}
}

// bind assigns a pod to a node (pods/binding), as the scheduler does.
func (r *request) bind() {
	body, err := readBody(r.c, r.api.opts.MaxBodyBytes)
	if err != nil {
		r.fail(err)
		return
	}
	if body, err = bodyJSON(r.c, body); err != nil {
		r.fail(err)
		return
	}
	binding := &corev1.Binding{}
	if _, err := r.api.dec.decodeInto(body, binding, "v1", "Binding", fieldValidationStrict); err != nil {
		r.fail(err)
		return
	}
	if binding.Name != "" && binding.Name != r.info.Name {
		r.fail(nameMismatch(binding.Name, r.info.Name))
		return
	}
	if binding.Target.Kind != "" && binding.Target.Kind != "Node" {
		r.fail(apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), r.info.Name,
			fieldErrors("target.kind", binding.Target.Kind, "must be empty or 'Node'")))
		return
	}
	if binding.Target.Name == "" {
		r.fail(apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), r.info.Name,
			fieldErrors("target.name", "", "must be the name of a node")))
		return
	}
	dry, err := r.dryRun()
	if err != nil {
		r.fail(err)
		return
	}
	_, err = r.store.Update(r.ctx(), r.info.Namespace, r.info.Name, func(current runtime.Object) (runtime.Object, error) {
		if current == nil {
			return nil, apierrors.NewNotFound(r.desc.GroupResource(), r.info.Name)
		}
		pod := current.(*corev1.Pod)
		if binding.UID != "" && binding.UID != pod.UID {
			return nil, apierrors.NewConflict(r.desc.GroupResource(), r.info.Name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", binding.UID, pod.UID))
		}
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(r.desc.GroupResource(), r.info.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", pod.Name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(r.desc.GroupResource(), r.info.Name, fmt.Errorf("pod %v is already assigned to node %q", pod.Name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = binding.Target.Name
		for k, v := range binding.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
		pod.ResourceVersion = ""
		return pod, nil
	}, genericstore.UpdateOptions{DryRun: dry, Subresource: apiresource.Binding})
	if err != nil {
		r.fail(err)
		return
	}
	writeStatus(r.c, http.StatusCreated, successStatus(http.StatusCreated))
}

func setPodCondition(pod *corev1.Pod, cond corev1.PodCondition) {
	for i, c := range pod.Status.Conditions {
		if c.Type == cond.Type {
			if c.Status == cond.Status {
				cond.LastTransitionTime = c.LastTransitionTime
			}
			pod.Status.Conditions[i] = cond
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, cond)
}

// evict serves pods/eviction: the pod goes if its PodDisruptionBudget
// allows (Options.Evict); without that hook, unconditionally.
func (r *request) evict() {
	body, err := readBody(r.c, r.api.opts.MaxBodyBytes)
	if err != nil {
		r.fail(err)
		return
	}
	if body, err = bodyJSON(r.c, body); err != nil {
		r.fail(err)
		return
	}
	ev := &policyv1.Eviction{}
	var tm typeMeta
	_ = json.Unmarshal(body, &tm)
	apiVersion := "policy/v1"
	if tm.APIVersion == "policy/v1beta1" {
		apiVersion = tm.APIVersion
	}
	if _, err := r.api.dec.decodeInto(body, ev, apiVersion, "Eviction", fieldValidationIgnore); err != nil {
		r.fail(err)
		return
	}
	// As Kubernetes: the body names the pod of the URL, and its namespace
	// if it names one.
	if ev.Name != r.info.Name {
		r.fail(apierrors.NewBadRequest("name in URL does not match name in Eviction object"))
		return
	}
	if ev.Namespace != "" && ev.Namespace != r.info.Namespace {
		r.fail(apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
		return
	}
	ev.Namespace = r.info.Namespace
	dry, err := r.dryRun()
	if err != nil {
		r.fail(err)
		return
	}
	if admit := r.api.opts.AdmitEviction; admit != nil {
		if err := admit(r.ctx(), ev); err != nil {
			r.fail(err)
			return
		}
	}
	if evict := r.api.opts.Evict; evict != nil {
		if err := evict(r.ctx(), ev, r.c.QueryArray("dryRun")); err != nil {
			r.fail(err)
			return
		}
		writeStatus(r.c, http.StatusCreated, successStatus(http.StatusCreated))
		return
	}
	opts := ev.DeleteOptions
	if opts != nil {
		for _, v := range opts.DryRun {
			if v != metav1.DryRunAll {
				r.fail(apierrors.NewBadRequest(fmt.Sprintf("Invalid dry run value: %q", v)))
				return
			}
			dry = true
		}
	}
	if _, err := r.store.Delete(r.ctx(), r.info.Namespace, r.info.Name, opts, dry); err != nil {
		r.fail(err)
		return
	}
	writeStatus(r.c, http.StatusCreated, successStatus(http.StatusCreated))
}

// finalize sets a namespace's spec.finalizers (namespaces/finalize): the
// namespace controller removes "kubernetes" once the namespace is empty.
func (r *request) finalize() {
	out, ok := r.negotiated()
	if !ok {
		return
	}
	obj, warnings, err := r.decodeBody()
	if err != nil {
		r.fail(err)
		return
	}
	want := obj.(*corev1.Namespace)
	res, err := r.store.Update(r.ctx(), r.info.Namespace, r.info.Name, func(current runtime.Object) (runtime.Object, error) {
		if current == nil {
			return nil, apierrors.NewNotFound(r.desc.GroupResource(), r.info.Name)
		}
		ns := current.(*corev1.Namespace)
		if want.ResourceVersion != "" && want.ResourceVersion != ns.ResourceVersion {
			return nil, apierrors.NewConflict(r.desc.GroupResource(), r.info.Name, fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
		}
		ns.Spec.Finalizers = want.Spec.Finalizers
		ns.ResourceVersion = want.ResourceVersion
		return ns, nil
	}, genericstore.UpdateOptions{Subresource: apiresource.Finalize})
	addWarnings(r.c, append(warnings, res.Warnings...))
	if err != nil {
		r.fail(err)
		return
	}
	r.respond(http.StatusOK, res.Object, out)
}
