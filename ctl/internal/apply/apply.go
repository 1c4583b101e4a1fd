// Package apply is kubectl's client-side apply: an object is created with
// its own configuration recorded in the last-applied annotation, and later
// updated with a three-way patch computed from that record, the new
// configuration and the live object — a strategic merge patch for kinds
// with a Go type (so lists merge by key, as for containers), a JSON merge
// patch for the rest.
package apply

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/jsonmergepatch"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes/scheme"
)

// LastApplied is the annotation that records the configuration last
// applied.
const LastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// FieldManager names ctl's writes.
const FieldManager = "ctl-client-side-apply"

// Result is what apply did to one object.
type Result string

// Results, as kubectl prints them.
const (
	Created    Result = "created"
	Configured Result = "configured"
	Unchanged  Result = "unchanged"
)

// OpError says which step of an apply failed: "creating", "patching" or
// "retrieving current configuration of", kubectl's words.
type OpError struct {
	Op  string
	Err error
}

func (e *OpError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *OpError) Unwrap() error { return e.Err }

// maxConflictRetries bounds re-reads after a 409 Conflict.
const maxConflictRetries = 5

// encode is the JSON kubectl records: sorted keys, newline-terminated.
func encode(obj *unstructured.Unstructured) ([]byte, error) {
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// Modified returns obj's configuration with the last-applied annotation
// set to that configuration (without the annotation), and the
// configuration itself. obj is left as it was.
func Modified(obj *unstructured.Unstructured) (modified []byte, err error) {
	u := obj.DeepCopy()
	annots := u.GetAnnotations()
	if annots == nil {
		annots = map[string]string{}
	}
	delete(annots, LastApplied)
	u.SetAnnotations(annots)
	plain, err := encode(u)
	if err != nil {
		return nil, err
	}
	annots[LastApplied] = string(plain)
	u.SetAnnotations(annots)
	return encode(u)
}

// Annotate sets the last-applied annotation on obj (create --save-config,
// and apply's create).
func Annotate(obj *unstructured.Unstructured) error {
	modified, err := Modified(obj)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(modified, &m); err != nil {
		return err
	}
	obj.Object = m
	return nil
}

// ThreeWay computes the patch from original (last applied), modified and
// current, and its type.
func ThreeWay(gvk schema.GroupVersionKind, original, modified, current []byte) ([]byte, types.PatchType, error) {
	if typed, err := scheme.Scheme.New(gvk); err == nil {
		meta, err := strategicpatch.NewPatchMetaFromStruct(typed)
		if err != nil {
			return nil, "", err
		}
		patch, err := strategicpatch.CreateThreeWayMergePatch(original, modified, current, meta, true)
		if err != nil {
			return nil, "", err
		}
		return patch, types.StrategicMergePatchType, nil
	}
	patch, err := jsonmergepatch.CreateThreeWayJSONMergePatch(original, modified, current, mergepatch.RequireKeyUnchanged("apiVersion"), mergepatch.RequireKeyUnchanged("kind"), mergepatch.RequireMetadataKeyUnchanged("name"))
	if err != nil {
		return nil, "", err
	}
	return patch, types.MergePatchType, nil
}

// Options adjust one apply.
type Options struct {
	// DryRun is "", "client" or "server".
	DryRun string
	// Warn receives kubectl's warning about an object without the
	// annotation.
	Warn func(string)
}

// Apply creates obj, or patches the live object towards it, and returns
// what it did and the object the server returned (obj itself for a client
// dry run).
func Apply(ctx context.Context, client dynamic.ResourceInterface, ref string, obj *unstructured.Unstructured, o Options) (Result, *unstructured.Unstructured, error) {
	gvk := obj.GroupVersionKind()
	var dry []string
	if o.DryRun == "server" {
		dry = []string{metav1.DryRunAll}
	}
	modified, err := Modified(obj)
	if err != nil {
		return "", nil, err
	}
	for attempt := 0; ; attempt++ {
		current, err := client.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			toCreate := obj.DeepCopy()
			if err := Annotate(toCreate); err != nil {
				return "", nil, err
			}
			if o.DryRun == "client" {
				return Created, toCreate, nil
			}
			created, err := client.Create(ctx, toCreate, metav1.CreateOptions{DryRun: dry, FieldManager: FieldManager})
			if err != nil {
				return "", nil, &OpError{Op: "creating", Err: err}
			}
			return Created, created, nil
		}
		if err != nil {
			return "", nil, &OpError{Op: "retrieving current configuration of", Err: err}
		}
		original := []byte(current.GetAnnotations()[LastApplied])
		if len(original) == 0 && attempt == 0 && o.Warn != nil {
			o.Warn(fmt.Sprintf("Warning: resource %s is missing the %s annotation which is required by ctl apply. ctl apply should only be used on resources created declaratively by either ctl create --save-config or ctl apply. The missing annotation will be patched automatically.", ref, LastApplied))
		}
		currentJSON, err := current.MarshalJSON()
		if err != nil {
			return "", nil, err
		}
		patch, pt, err := ThreeWay(gvk, original, modified, currentJSON)
		if err != nil {
			return "", nil, fmt.Errorf("creating patch with:\noriginal:\n%s\nmodified:\n%s\ncurrent:\n%s\nfor: %w", original, modified, currentJSON, err)
		}
		if string(patch) == "{}" {
			return Unchanged, current, nil
		}
		if o.DryRun == "client" {
			return Configured, current, nil
		}
		patched, err := client.Patch(ctx, obj.GetName(), pt, patch, metav1.PatchOptions{DryRun: dry, FieldManager: FieldManager})
		if apierrors.IsConflict(err) && attempt < maxConflictRetries {
			continue
		}
		if err != nil {
			return "", nil, &OpError{Op: "patching", Err: err}
		}
		return Configured, patched, nil
	}
}
