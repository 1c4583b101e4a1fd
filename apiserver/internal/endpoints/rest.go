package endpoints

import (
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"coracle.dev/apiserver/internal/audit"
	"coracle.dev/apiserver/internal/genericstore"
)

func (r *request) get() {
	out, ok := r.negotiated()
	if !ok {
		return
	}
	obj, err := r.store.Get(r.ctx(), r.info.Namespace, r.info.Name)
	if err != nil {
		r.fail(err)
		return
	}
	r.respond(http.StatusOK, obj, out)
}

func (r *request) list() {
	out, ok := r.negotiated()
	if !ok {
		return
	}
	opts, err := r.listOptions()
	if err != nil {
		r.fail(err)
		return
	}
	list, err := r.store.List(r.ctx(), opts)
	if err != nil {
		r.fail(err)
		return
	}
	r.respond(http.StatusOK, list, out)
}

func (r *request) decodeBody() (runtime.Object, []string, error) {
	validation, err := fieldValidation(r.c)
	if err != nil {
		return nil, nil, err
	}
	data, err := readBody(r.c, r.api.opts.MaxBodyBytes)
	if err != nil {
		return nil, nil, err
	}
	data, err = bodyJSON(r.c, data)
	if err != nil {
		return nil, nil, err
	}
	obj := r.desc.New()
	warnings, err := r.api.dec.decodeInto(data, obj, r.desc.APIVersion(), r.desc.Kind, validation)
	if err == nil && r.desc.UnknownFields != nil && validation != fieldValidationIgnore {
		// A custom resource's fields unknown to its schema, which
		// storage would prune, count as unknown fields too.
		var msgs []string
		for _, path := range r.desc.UnknownFields(obj) {
			msgs = append(msgs, fmt.Sprintf("unknown field %q", path))
		}
		var more []string
		more, err = strictResult(msgs, r.desc.Kind, r.desc.Version, validation)
		warnings = append(warnings, more...)
	}
	if err == nil {
		audit.EntryFrom(r.ctx()).LogRequestObject(obj)
	}
	return obj, warnings, err
}

func (r *request) create() {
	if r.info.Name != "" {
		r.fail(methodNotSupported(r.desc.GroupResource(), "create"))
		return
	}
	out, ok := r.negotiated()
	if !ok {
		return
	}
	dry, err := r.dryRun()
	if err != nil {
		r.fail(err)
		return
	}
	manager, err := r.managerName("CreateOptions")
	if err != nil {
		r.fail(err)
		return
	}
	obj, warnings, err := r.decodeBody()
	if err != nil {
		r.fail(err)
		return
	}
	obj = r.recordManaged(r.fieldManager(""), nil, obj, manager)
	res, err := r.store.Create(r.ctx(), r.info.Namespace, obj, genericstore.CreateOptions{DryRun: dry})
	addWarnings(r.c, append(warnings, res.Warnings...))
	if err != nil {
		r.fail(err)
		return
	}
	r.respond(http.StatusCreated, res.Object, out)
}

func (r *request) update() {
	out, ok := r.negotiated()
	if !ok {
		return
	}
	dry, err := r.dryRun()
	if err != nil {
		r.fail(err)
		return
	}
	obj, warnings, err := r.decodeBody()
	if err != nil {
		r.fail(err)
		return
	}
	r.updateWith(obj, warnings, dry, r.info.Subresource, out)
}

// updateWith writes obj over the current object (PUT semantics).
func (r *request) updateWith(obj runtime.Object, warnings []string, dry bool, sub string, out output) {
	manager, err := r.managerName("UpdateOptions")
	if err != nil {
		r.fail(err)
		return
	}
	fm := r.fieldManager(sub)
	res, err := r.store.Update(r.ctx(), r.info.Namespace, r.info.Name, func(current runtime.Object) (runtime.Object, error) {
		return r.recordManaged(fm, current, obj.DeepCopyObject(), manager), nil
	}, genericstore.UpdateOptions{DryRun: dry, Subresource: sub})
	addWarnings(r.c, append(warnings, res.Warnings...))
	if err != nil {
		r.fail(err)
		return
	}
	code := http.StatusOK
	if res.Created {
		code = http.StatusCreated
	}
	r.respond(code, res.Object, out)
}

// deleteOptions merges DeleteOptions from the query and the body.
func (r *request) deleteOptions() (*metav1.DeleteOptions, bool, error) {
	opts := &metav1.DeleteOptions{}
	q := r.c.Request.URL.Query()
	if s := q.Get("gracePeriodSeconds"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, false, apierrors.NewBadRequest(fmt.Sprintf("invalid gracePeriodSeconds %q", s))
		}
		opts.GracePeriodSeconds = &n
	}
	if s := q.Get("propagationPolicy"); s != "" {
		p := metav1.DeletionPropagation(s)
		opts.PropagationPolicy = &p
	}
	if s := q.Get("orphanDependents"); s != "" {
		b := isTrue(s)
		opts.OrphanDependents = &b //nolint:staticcheck // still sent by old clients
	}
	dry, err := r.dryRun()
	if err != nil {
		return nil, false, err
	}
	data, err := readBody(r.c, r.api.opts.MaxBodyBytes)
	if err != nil {
		return nil, false, err
	}
	if err := r.api.dec.decodeOptions(data, opts); err != nil {
		return nil, false, err
	}
	for _, v := range opts.DryRun {
		if v != metav1.DryRunAll {
			return nil, false, apierrors.NewBadRequest(fmt.Sprintf("Invalid dry run value: %q", v))
		}
		dry = true
	}
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return nil, false, apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("DeleteOptions").GroupKind(), "",
				fieldErrors("propagationPolicy", string(*p), "must be one of Background, Foreground, Orphan"))
		}
	}
	if g := opts.GracePeriodSeconds; g != nil && *g < 0 {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	}
	return opts, dry, nil
}

func (r *request) delete() {
	out, ok := r.negotiated()
	if !ok {
		return
	}
	opts, dry, err := r.deleteOptions()
	if err != nil {
		r.fail(err)
		return
	}
	res, err := r.store.Delete(r.ctx(), r.info.Namespace, r.info.Name, opts, dry)
	if err != nil {
		r.fail(err)
		return
	}
	if res.Deleted && !returnsDeletedObject(r.desc.Resource) {
		m, _ := meta.Accessor(res.Object)
		// The Status in the negotiated encoding, never as a Table.
		writeObject(r.c, http.StatusOK, &metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusSuccess,
			Details: &metav1.StatusDetails{
				Name:  r.info.Name,
				Group: r.desc.Group,
				Kind:  r.desc.Resource,
				UID:   types.UID(m.GetUID()),
			},
		}, out)
		return
	}
	r.respond(http.StatusOK, res.Object, out)
}

// returnsDeletedObject lists the kinds whose DELETE answers with the object,
// as in Kubernetes; the others answer with a Success Status.
func returnsDeletedObject(resource string) bool {
	switch resource {
	case "pods", "namespaces", "services", "persistentvolumes", "persistentvolumeclaims":
		return true
	}
	return false
}

func (r *request) deleteCollection() {
	out, ok := r.negotiated()
	if !ok {
		return
	}
	lopts, err := r.listOptions()
	if err != nil {
		r.fail(err)
		return
	}
	opts, dry, err := r.deleteOptions()
	if err != nil {
		r.fail(err)
		return
	}
	list, err := r.store.DeleteCollection(r.ctx(), lopts, opts, dry)
	if err != nil {
		r.fail(err)
		return
	}
	r.respond(http.StatusOK, list, out)
}
