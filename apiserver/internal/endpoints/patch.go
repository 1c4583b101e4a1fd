package endpoints

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"

	"coracle.dev/apiserver/internal/genericstore"
)

// patchType reads the patch flavour from Content-Type.
func patchType(ct string) (types.PatchType, error) {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = ct
	}
	switch types.PatchType(mt) {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType:
		return types.PatchType(mt), nil
	}
	return "", statusError(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType, fmt.Sprintf("the body of the request was in an unknown format (%s) - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json", ct))
}

// applyPatch applies patch of type pt to the JSON of current.
func applyPatch(pt types.PatchType, current, patch []byte, schema runtime.Object) ([]byte, error) {
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the JSON patch is not valid: %v", err))
		}
		out, err := p.Apply(current)
		if err != nil {
			return nil, statusError(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, fmt.Sprintf("the JSON patch could not be applied: %v", err))
		}
		return out, nil
	case types.MergePatchType:
		if !json.Valid(patch) {
			return nil, apierrors.NewBadRequest("the merge patch is not valid JSON")
		}
		out, err := jsonpatch.MergePatch(current, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the merge patch could not be applied: %v", err))
		}
		return out, nil
	case types.StrategicMergePatchType:
		var m map[string]any
		if err := json.Unmarshal(patch, &m); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the strategic merge patch is not a valid JSON object: %v", err))
		}
		out, err := strategicpatch.StrategicMergePatch(current, patch, schema)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the strategic merge patch could not be applied: %v", err))
		}
		return out, nil
	}
	return nil, apierrors.NewBadRequest(fmt.Sprintf("unknown patch type %q", pt))
}

// patchSetsResourceVersion reports whether a patch names
// metadata.resourceVersion, which makes it a precondition.
func patchSetsResourceVersion(pt types.PatchType, patch []byte) bool {
	if pt == types.JSONPatchType {
		var ops []struct {
			Path string `json:"path"`
		}
		if json.Unmarshal(patch, &ops) != nil {
			return false
		}
		for _, op := range ops {
			if op.Path == "/metadata/resourceVersion" {
				return true
			}
		}
		return false
	}
	var m struct {
		Metadata map[string]any `json:"metadata"`
	}
	if json.Unmarshal(patch, &m) != nil {
		return false
	}
	_, ok := m.Metadata["resourceVersion"]
	return ok
}

// patch serves PATCH on the object or on its status (sub "status").
func (r *request) patch(sub string) {
	out, ok := r.negotiated()
	if !ok {
		return
	}
	dry, err := r.dryRun()
	if err != nil {
		r.fail(err)
		return
	}
	validation, err := fieldValidation(r.c)
	if err != nil {
		r.fail(err)
		return
	}
	pt, err := patchType(r.c.GetHeader("Content-Type"))
	if err != nil {
		r.fail(err)
		return
	}
	patchBytes, err := readBody(r.c, r.api.opts.MaxBodyBytes)
	if err != nil {
		r.fail(err)
		return
	}
	manager, force, err := r.patchOptions(pt)
	if err != nil {
		r.fail(err)
		return
	}
	fm := r.fieldManager(sub)
	apply := pt == types.ApplyYAMLPatchType
	if apply && fm == nil {
		r.fail(statusError(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType, fmt.Sprintf("server-side apply is not available for %s", r.desc)))
		return
	}
	pinned := patchSetsResourceVersion(pt, patchBytes)
	var warnings []string
	res, err := r.store.Update(r.ctx(), r.info.Namespace, r.info.Name, func(current runtime.Object) (runtime.Object, error) {
		if apply {
			obj, w, err := r.applied(fm, current, patchBytes, manager, force, validation)
			warnings = w
			return obj, err
		}
		if current == nil {
			return nil, apierrors.NewNotFound(r.desc.GroupResource(), r.info.Name)
		}
		obj, w, err := r.patched(current, pt, patchBytes, validation, pinned)
		warnings = w
		if err != nil {
			return nil, err
		}
		return r.recordManaged(fm, current, obj, manager), nil
	}, genericstore.UpdateOptions{DryRun: dry, Subresource: sub, CreateIfMissing: apply && sub == ""})
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

// applied is a server-side apply of patch by manager over current (nil:
// the object is created), as a whole object of the kind to store. The
// patch's own YAML is then judged strictly (duplicate keys) per the
// fieldValidation directive, as kube-apiserver does after the merge.
func (r *request) applied(fm FieldManager, current runtime.Object, patch []byte, manager string, force bool, validation string) (runtime.Object, []string, error) {
	obj, err := fm.Apply(current, patch, manager, force)
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	if validation == fieldValidationStrict || validation == fieldValidationWarn {
		if err := yaml.UnmarshalStrict(patch, &map[string]any{}); err != nil {
			if validation == fieldValidationStrict {
				return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("error strict decoding patch: %v", err))
			}
			warnings = append(warnings, err.Error())
		}
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(err.Error())
	}
	if current == nil {
		if m.GetName() == "" {
			m.SetName(r.info.Name)
		}
		if r.desc.Namespaced && m.GetNamespace() == "" {
			m.SetNamespace(r.info.Namespace)
		}
	} else if !patchSetsResourceVersion(types.MergePatchType, patchJSON(patch)) {
		m.SetResourceVersion("")
	}
	return obj, warnings, nil
}

// patchJSON is an apply patch (YAML, of which JSON is a subset) as JSON,
// or nil when it is neither.
func patchJSON(patch []byte) []byte {
	j, err := yaml.YAMLToJSON(patch)
	if err != nil {
		return nil
	}
	return j
}

// patched returns current with the patch applied, decoded as the kind.
func (r *request) patched(current runtime.Object, pt types.PatchType, patchBytes []byte, validation string, pinned bool) (runtime.Object, []string, error) {
	curJSON, err := json.Marshal(current)
	if err != nil {
		return nil, nil, apierrors.NewInternalError(err)
	}
	newJSON, err := applyPatch(pt, curJSON, patchBytes, r.desc.New())
	if err != nil {
		return nil, nil, err
	}
	obj := r.desc.New()
	warnings, err := r.api.dec.decodeInto(newJSON, obj, r.desc.APIVersion(), r.desc.Kind, validation)
	if err != nil {
		return nil, nil, err
	}
	if !pinned {
		// No resourceVersion in the patch: apply to whatever is current.
		m, _ := meta.Accessor(obj)
		m.SetResourceVersion("")
	}
	return obj, warnings, nil
}
