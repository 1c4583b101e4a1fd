// Package ensurer keeps API Priority and Fairness' bootstrap
// configuration in the cluster, as kube-apiserver's
// priority-and-fairness-config-producer (pkg/registry/flowcontrol/ensurer)
// does, with the objects k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap
// defines:
//
//   - the mandatory FlowSchemas and PriorityLevelConfigurations (exempt,
//     catch-all) are always there with their fixed spec: a missing one is
//     created, a changed one is put back;
//   - the suggested ones (system, node-high, leader-election,
//     workload-high, workload-low, global-default and their schemas) are
//     created when missing, and their spec is brought up to date only
//     while their apf.kubernetes.io/autoupdate-spec annotation says true
//     (a missing or unreadable annotation counts as true while the object
//     is at generation 1, that is, nobody changed it); an administrator
//     who edits one sets the annotation to false to keep the edit;
//   - an object the apiserver once wrote (annotation true) that is no
//     longer among the bootstrap objects is deleted.
package ensurer

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap"

	"coracle.dev/apiserver/internal/genericstore"
	kindsflowcontrol "coracle.dev/apiserver/internal/kinds/flowcontrol"
)

// Stores are the stores of the two kinds.
type Stores struct {
	FlowSchemas    *genericstore.Store
	PriorityLevels *genericstore.Store
}

// Ensure brings the stored configuration in line with the bootstrap
// objects once: suggested objects first, then the mandatory ones, then
// the removal of objects the apiserver no longer ships, each step as
// upstream orders them. A write lost to a concurrent one is left for the
// next run.
func Ensure(ctx context.Context, st Stores) error {
	pls, fss := priorityLevels(st.PriorityLevels), flowSchemas(st.FlowSchemas)
	if err := ensureAll(ctx, pls, bootstrap.SuggestedPriorityLevelConfigurations, false); err != nil {
		return fmt.Errorf("suggested priority levels: %w", err)
	}
	if err := ensureAll(ctx, fss, bootstrap.SuggestedFlowSchemas, false); err != nil {
		return fmt.Errorf("suggested flow schemas: %w", err)
	}
	if err := ensureAll(ctx, pls, bootstrap.MandatoryPriorityLevelConfigurations, true); err != nil {
		return fmt.Errorf("mandatory priority levels: %w", err)
	}
	if err := ensureAll(ctx, fss, bootstrap.MandatoryFlowSchemas, true); err != nil {
		return fmt.Errorf("mandatory flow schemas: %w", err)
	}
	if err := removeUnwanted(ctx, fss, append(append([]*flowcontrolv1.FlowSchema{}, bootstrap.MandatoryFlowSchemas...), bootstrap.SuggestedFlowSchemas...)); err != nil {
		return fmt.Errorf("unwanted flow schemas: %w", err)
	}
	if err := removeUnwanted(ctx, pls, append(append([]*flowcontrolv1.PriorityLevelConfiguration{}, bootstrap.MandatoryPriorityLevelConfigurations...), bootstrap.SuggestedPriorityLevelConfigurations...)); err != nil {
		return fmt.Errorf("unwanted priority levels: %w", err)
	}
	return nil
}

// object is either configuration kind.
type object interface {
	runtime.Object
	metav1.Object
}

// kind is what ensuring needs to know of one of the two kinds.
type kind[T object] struct {
	store *genericstore.Store
	// specEqual reports whether current's spec is want's with defaults.
	specEqual func(want, current T) bool
	// withSpec is a copy of current with want's spec.
	withSpec func(current, want T) T
	// items are the objects of a list.
	items func(list runtime.Object) []T
}

func flowSchemas(st *genericstore.Store) kind[*flowcontrolv1.FlowSchema] {
	return kind[*flowcontrolv1.FlowSchema]{
		store: st,
		specEqual: func(want, current *flowcontrolv1.FlowSchema) bool {
			spec := want.Spec.DeepCopy()
			kindsflowcontrol.DefaultFlowSchemaSpec(spec)
			return apiequality.Semantic.DeepEqual(spec, &current.Spec)
		},
		withSpec: func(current, want *flowcontrolv1.FlowSchema) *flowcontrolv1.FlowSchema {
			out := current.DeepCopy()
			out.Spec = *want.Spec.DeepCopy()
			return out
		},
		items: func(list runtime.Object) []*flowcontrolv1.FlowSchema {
			l := list.(*flowcontrolv1.FlowSchemaList)
			out := make([]*flowcontrolv1.FlowSchema, len(l.Items))
			for i := range l.Items {
				out[i] = &l.Items[i]
			}
			return out
		},
	}
}

func priorityLevels(st *genericstore.Store) kind[*flowcontrolv1.PriorityLevelConfiguration] {
	return kind[*flowcontrolv1.PriorityLevelConfiguration]{
		store: st,
		// The exempt level's exempt section is the administrator's to
		// tune (its shares and lendable percent), as upstream's
		// plcSpecEqualish allows.
		specEqual: func(want, current *flowcontrolv1.PriorityLevelConfiguration) bool {
			spec := want.Spec.DeepCopy()
			kindsflowcontrol.DefaultPriorityLevelSpec(spec)
			if want.Name == flowcontrolv1.PriorityLevelConfigurationNameExempt {
				if current.Spec.Exempt == nil {
					return false
				}
				spec.Exempt.NominalConcurrencyShares = current.Spec.Exempt.NominalConcurrencyShares
				spec.Exempt.LendablePercent = current.Spec.Exempt.LendablePercent
			}
			return apiequality.Semantic.DeepEqual(spec, &current.Spec)
		},
		withSpec: func(current, want *flowcontrolv1.PriorityLevelConfiguration) *flowcontrolv1.PriorityLevelConfiguration {
			out := current.DeepCopy()
			out.Spec = *want.Spec.DeepCopy()
			return out
		},
		items: func(list runtime.Object) []*flowcontrolv1.PriorityLevelConfiguration {
			l := list.(*flowcontrolv1.PriorityLevelConfigurationList)
			out := make([]*flowcontrolv1.PriorityLevelConfiguration, len(l.Items))
			for i := range l.Items {
				out[i] = &l.Items[i]
			}
			return out
		},
	}
}

func ensureAll[T object](ctx context.Context, k kind[T], boots []T, mandatory bool) error {
	var errs []error
	for _, want := range boots {
		errs = append(errs, ensureOne(ctx, k, want, mandatory))
	}
	return errors.Join(errs...)
}

// ensureOne creates want when it is missing, or revises the stored object
// as Revise says.
func ensureOne[T object](ctx context.Context, k kind[T], want T, mandatory bool) error {
	name := want.GetName()
	_, err := k.store.Update(ctx, "", name, func(cur runtime.Object) (runtime.Object, error) {
		revised, changed := Revise(cur.(T), want, mandatory, k.specEqual, k.withSpec)
		if !changed {
			return cur, nil
		}
		return revised, nil
	}, genericstore.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		// Missing objects are always created again, suggested ones too,
		// as upstream: deleting a suggested object does not remove it.
		_, err = k.store.Create(ctx, "", want.DeepCopyObject(), genericstore.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
	}
	if apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", k.store.Descriptor(), name, err)
	}
	return nil
}

// Revise decides what becomes of a stored configuration object current
// given its bootstrap version want: its spec is replaced by want's when
// the spec is to be kept up to date (always for a mandatory object; for
// a suggested one while its autoupdate annotation says so) and differs;
// and the annotation is set to whether the spec is kept up to date.
// changed is false when nothing is to be written. specEqual compares
// want, defaulted, with current's spec; withSpec copies current with
// want's spec.
func Revise[T object](current, want T, mandatory bool, specEqual func(want, current T) bool, withSpec func(current, want T) T) (revised T, changed bool) {
	autoUpdate := mandatory || autoUpdateSpec(current)
	fixAnnotation := !annotationSays(current, autoUpdate)
	fixSpec := autoUpdate && !specEqual(want, current)
	if !fixAnnotation && !fixSpec {
		return current, false
	}
	if fixSpec {
		revised = withSpec(current, want)
	} else {
		revised = current.DeepCopyObject().(T)
	}
	if fixAnnotation {
		annotations := revised.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[flowcontrolv1.AutoUpdateAnnotationKey] = strconv.FormatBool(autoUpdate)
		revised.SetAnnotations(annotations)
	}
	return revised, true
}

// autoUpdateSpec reads a suggested object's annotation; without a
// readable one, the spec is kept up to date only while nobody has
// changed it (generation 1). An operator who deletes and recreates the
// object with a spec of their own is not protected: it is generation 1
// again, as upstream notes.
func autoUpdateSpec(obj metav1.Object) bool {
	if v, err := strconv.ParseBool(obj.GetAnnotations()[flowcontrolv1.AutoUpdateAnnotationKey]); err == nil {
		return v
	}
	return obj.GetGeneration() == 1
}

// annotationSays reports whether obj's annotation already reads want.
func annotationSays(obj metav1.Object, want bool) bool {
	v, ok := obj.GetAnnotations()[flowcontrolv1.AutoUpdateAnnotationKey]
	if !ok {
		return false
	}
	got, err := strconv.ParseBool(v)
	return err == nil && got == want
}

// removeUnwanted deletes the stored objects that carry the annotation
// true (the apiserver wrote and maintains them) and are not among boots:
// configuration an older apiserver shipped. Objects without the
// annotation, or with false, are the administrator's and stay. The
// delete is conditional on the version read, so an object changed
// meanwhile is reconsidered on the next run.
func removeUnwanted[T object](ctx context.Context, k kind[T], boots []T) error {
	wanted := map[string]bool{}
	for _, b := range boots {
		wanted[b.GetName()] = true
	}
	list, err := k.store.List(ctx, genericstore.ListOptions{})
	if err != nil {
		return err
	}
	var errs []error
	for _, obj := range k.items(list) {
		if wanted[obj.GetName()] {
			continue
		}
		if v, err := strconv.ParseBool(obj.GetAnnotations()[flowcontrolv1.AutoUpdateAnnotationKey]); err != nil || !v {
			continue
		}
		rv := obj.GetResourceVersion()
		_, err := k.store.Delete(ctx, "", obj.GetName(), &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}}, false)
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("delete %s %s: %w", k.store.Descriptor(), obj.GetName(), err))
		}
	}
	return errors.Join(errs...)
}
