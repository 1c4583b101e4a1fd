package objects

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/dynamic"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/resource"
)

// Selection is how a mutating command names its objects: TYPE NAME...,
// TYPE/NAME..., -f files, or TYPE with -l / --all.
type Selection struct {
	Args   []string
	Files  *Files
	Labels string
	All    bool
}

// Select reads the objects a selection names, every one of them
// (NotFound errors are returned together at the end).
func Select(ctx context.Context, env *cmdenv.Env, s Selection) ([]*resource.Info, error) {
	oc, err := env.ObjectClients()
	if err != nil {
		return nil, err
	}
	ns, explicit, r, dyn := oc.Namespace, oc.Explicit, oc.Resolver, oc.Dynamic
	if s.Files != nil && len(s.Files.Filenames) > 0 {
		infos, err := Read(env, r, s.Files, ns, explicit)
		if err != nil {
			return nil, err
		}
		out, errs := Fetch(ctx, dyn, infos)
		return out, utilerrors.NewAggregate(errs)
	}
	if len(s.Args) == 0 {
		return nil, fmt.Errorf("you must provide one or more resources by argument or filename")
	}
	targets, err := r.ParseArgs(s.Args)
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		if len(t.Names) == 0 && s.Labels == "" && !s.All {
			return nil, fmt.Errorf("resource(s) were provided, but no name was specified")
		}
	}
	infos, errs := resource.Collect(ctx, dyn, targets, resource.Selector{Namespace: ns, Labels: s.Labels})
	return infos, utilerrors.NewAggregate(errs)
}

// Fetch reads the live state of objects read from manifests. It returns
// those it found, their Object replaced by the server's, and why the
// others could not be read.
func Fetch(ctx context.Context, dyn dynamic.Interface, infos []*resource.Info) ([]*resource.Info, []error) {
	var errs []error
	var out []*resource.Info
	for _, info := range infos {
		obj, err := info.Client(dyn).Get(ctx, info.Name, metav1.GetOptions{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		info.Object = obj
		out = append(out, info)
	}
	return out, errs
}

// Patch sends a patch to one object (or to one of its subresources); a
// patch of the object itself replaces info.Object with the result.
func Patch(ctx context.Context, env *cmdenv.Env, info *resource.Info, pt types.PatchType, data []byte, subresources ...string) error {
	dyn, err := env.Dynamic()
	if err != nil {
		return err
	}
	obj, err := info.Client(dyn).Patch(ctx, info.Name, pt, data, metav1.PatchOptions{FieldManager: "ctl"}, subresources...)
	if err != nil {
		return err
	}
	if len(subresources) == 0 {
		info.Object = obj
	}
	return nil
}
