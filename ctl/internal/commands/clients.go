package commands

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/dynamic"

	"coracle.dev/ctl/internal/resource"
)

// getOpts are the options of a plain GET.
var getOpts = metav1.GetOptions{}

// dynClient names the dynamic client where a parameter list would
// otherwise read "dyn dynamic.Interface" twice.
type dynClient struct{ dynamic.Interface }

// selection is how a mutating command names its objects: TYPE NAME...,
// TYPE/NAME..., -f files, or TYPE with -l / --all.
type selection struct {
	args   []string
	files  *fileFlags
	labels string
	all    bool
}

// objects reads the objects a selection names, every one of them
// (NotFound errors are returned together at the end).
func (e *Env) objects(ctx context.Context, s selection) ([]*resource.Info, error) {
	ns, explicit, err := e.namespace()
	if err != nil {
		return nil, err
	}
	r, err := e.resolver()
	if err != nil {
		return nil, err
	}
	dyn, err := e.dynamic()
	if err != nil {
		return nil, err
	}
	if s.files != nil && len(s.files.filenames) > 0 {
		infos, err := readManifests(e, r, s.files.filenames, s.files.recursive, ns, explicit)
		if err != nil {
			return nil, err
		}
		var errs []error
		var out []*resource.Info
		for _, info := range infos {
			obj, err := info.Client(dyn).Get(ctx, info.Name, getOpts)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			info.Object = obj
			out = append(out, info)
		}
		return out, utilerrors.NewAggregate(errs)
	}
	if len(s.args) == 0 {
		return nil, fmt.Errorf("you must provide one or more resources by argument or filename")
	}
	targets, err := r.ParseArgs(s.args)
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		if len(t.Names) == 0 && s.labels == "" && !s.all {
			return nil, fmt.Errorf("resource(s) were provided, but no name was specified")
		}
	}
	infos, errs := resource.Collect(ctx, dyn, targets, resource.Selector{Namespace: ns, Labels: s.labels})
	return infos, utilerrors.NewAggregate(errs)
}

// patch sends a patch to one object and returns the result.
func (e *Env) patch(ctx context.Context, info *resource.Info, pt types.PatchType, data []byte, subresources ...string) error {
	dyn, err := e.dynamic()
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
