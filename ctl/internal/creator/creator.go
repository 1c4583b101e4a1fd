// Package creator sends the new objects that create, run and expose
// build or read, and says what happened as kubectl does ("pod/web
// created", or the object under -o), honouring --dry-run and
// --save-config.
package creator

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"coracle.dev/ctl/internal/apply"
	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/dryrun"
	"coracle.dev/ctl/internal/printers"
	"coracle.dev/ctl/internal/resource"
)

// Flags are what every creating command shares: -o, --dry-run and
// --save-config.
type Flags struct {
	output     string
	dryRun     string
	saveConfig bool
}

// Add registers the flags on cmd.
func (w *Flags) Add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&w.output, "output", "o", "", "Output format. One of: (json, yaml, name, jsonpath=..., custom-columns=...).")
	dryrun.AddFlag(cmd, &w.dryRun)
	cmd.Flags().BoolVar(&w.saveConfig, "save-config", false, "If true, the configuration of current object will be saved in its annotation. Otherwise, the annotation will be unchanged. This flag is useful when you want to perform ctl apply on this object in the future.")
}

// Creator sends new objects and says what happened.
type Creator struct {
	env     *cmdenv.Env
	flags   *Flags
	mode    string
	printer printers.Printer
}

// New checks the flags and returns a Creator that follows them.
func New(env *cmdenv.Env, w *Flags) (*Creator, error) {
	mode, err := dryrun.Mode(w.dryRun)
	if err != nil {
		return nil, err
	}
	c := &Creator{env: env, flags: w, mode: mode}
	if w.output != "" {
		f, err := printers.ParseFormat(w.output)
		if err != nil {
			return nil, err
		}
		if c.printer, err = printers.NewObject(f, false); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// InNamespace creates a typed object in the request's namespace and
// prints the outcome.
func InNamespace(ctx context.Context, env *cmdenv.Env, w *Flags, obj runtime.Object) error {
	c, err := New(env, w)
	if err != nil {
		return err
	}
	ns, _, err := env.Namespace()
	if err != nil {
		return err
	}
	return c.CreateTyped(ctx, obj, ns, "created")
}

// toUnstructured converts a typed object, setting its apiVersion and kind.
func toUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	gvks, _, err := scheme.Scheme.ObjectKinds(obj)
	if err != nil {
		return nil, err
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: content}
	u.SetGroupVersionKind(gvks[0])
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	return u, nil
}

// CreateTyped creates a typed object in ns (when its kind lives in
// namespaces) and prints the outcome with verb ("created", "exposed").
func (c *Creator) CreateTyped(ctx context.Context, obj runtime.Object, ns, verb string) error {
	u, err := toUnstructured(obj)
	if err != nil {
		return err
	}
	r, err := c.env.Resolver()
	if err != nil {
		return err
	}
	m, err := r.MappingFor(u.GroupVersionKind())
	if err != nil {
		return err
	}
	if resource.Namespaced(m) {
		u.SetNamespace(ns)
	}
	info := &resource.Info{Mapping: m, Namespace: u.GetNamespace(), Name: u.GetName(), Object: u}
	out, err := c.Create(ctx, info)
	if err != nil {
		return err
	}
	return c.Report(info, out, verb)
}

// Create sends one object (or only builds it, for a client dry run).
func (c *Creator) Create(ctx context.Context, info *resource.Info) (*unstructured.Unstructured, error) {
	obj := info.Object
	if c.flags.saveConfig {
		if err := apply.Annotate(obj); err != nil {
			return nil, err
		}
	}
	if c.mode == "client" {
		return obj, nil
	}
	dyn, err := c.env.Dynamic()
	if err != nil {
		return nil, err
	}
	opts := metav1.CreateOptions{FieldManager: "ctl-create"}
	if c.mode == "server" {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return info.Client(dyn).Create(ctx, obj, opts)
}

// Report prints what Create returned: the object under -o, else
// "KIND/NAME verb".
func (c *Creator) Report(info *resource.Info, out *unstructured.Unstructured, verb string) error {
	if c.printer != nil {
		return printers.PrintObjects(c.printer, []*unstructured.Unstructured{out}, true, c.env.Out)
	}
	name := info.Name
	if out != nil && out.GetName() != "" {
		name = out.GetName()
	}
	fmt.Fprintf(c.env.Out, "%s/%s %s%s\n", resource.KindRef(info.Mapping.GroupVersionKind.GroupKind()), name, verb, dryrun.Suffix(c.mode))
	return nil
}
