package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/scheme"

	"coracle.dev/ctl/internal/apply"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/printers"
	"coracle.dev/ctl/internal/resource"
)

// writeFlags are what every creating command shares: -o, --dry-run and
// --save-config.
type writeFlags struct {
	output     string
	dryRun     string
	saveConfig bool
}

func (w *writeFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&w.output, "output", "o", "", "Output format. One of: (json, yaml, name, jsonpath=..., custom-columns=...).")
	addDryRun(cmd, &w.dryRun)
	cmd.Flags().BoolVar(&w.saveConfig, "save-config", false, "If true, the configuration of current object will be saved in its annotation. Otherwise, the annotation will be unchanged. This flag is useful when you want to perform ctl apply on this object in the future.")
}

// creator sends new objects and says what happened.
type creator struct {
	env     *Env
	flags   *writeFlags
	mode    string
	printer printers.Printer
}

func newCreator(env *Env, w *writeFlags) (*creator, error) {
	mode, err := dryRunMode(w.dryRun)
	if err != nil {
		return nil, err
	}
	c := &creator{env: env, flags: w, mode: mode}
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

// createTyped creates a typed object in ns and prints the outcome.
func (c *creator) createTyped(ctx context.Context, obj runtime.Object, ns string) error {
	return c.createTypedVerb(ctx, obj, ns, "created")
}

// createTypedVerb is createTyped saying verb ("exposed") instead.
func (c *creator) createTypedVerb(ctx context.Context, obj runtime.Object, ns, verb string) error {
	u, err := toUnstructured(obj)
	if err != nil {
		return err
	}
	r, err := c.env.resolver()
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
	out, err := c.create(ctx, info)
	if err != nil {
		return err
	}
	return c.report(info, out, verb)
}

// create sends one object (or only builds it, for a client dry run).
func (c *creator) create(ctx context.Context, info *resource.Info) (*unstructured.Unstructured, error) {
	obj := info.Object
	if c.flags.saveConfig {
		if err := apply.Annotate(obj); err != nil {
			return nil, err
		}
	}
	if c.mode == "client" {
		return obj, nil
	}
	dyn, err := c.env.dynamic()
	if err != nil {
		return nil, err
	}
	opts := metav1.CreateOptions{FieldManager: "ctl-create"}
	if c.mode == "server" {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return info.Client(dyn).Create(ctx, obj, opts)
}

func (c *creator) report(info *resource.Info, out *unstructured.Unstructured, verb string) error {
	if c.printer != nil {
		return printers.PrintObjects(c.printer, []*unstructured.Unstructured{out}, true, c.env.Out)
	}
	name := info.Name
	if out != nil && out.GetName() != "" {
		name = out.GetName()
	}
	fmt.Fprintf(c.env.Out, "%s/%s %s%s\n", resource.KindRef(info.Mapping.GroupVersionKind.GroupKind()), name, verb, dryRunSuffix(c.mode))
	return nil
}

func newCreate(env *Env) *cobra.Command {
	var files fileFlags
	var w writeFlags
	cmd := &cobra.Command{
		Use:   "create -f FILENAME",
		Short: "Create a resource from a file or from stdin",
		Long: `Create a resource from a file or from stdin.

JSON and YAML formats are accepted. Objects that already exist are an error;
use "ctl apply" to create or update.`,
		Example: examples(`
# Create a pod using the data in pod.json
ctl create -f ./pod.json

# Create a pod based on the JSON passed into stdin
cat pod.json | ctl create -f -

# Create a namespace, a config map and a deployment
ctl create namespace staging
ctl create configmap app-config --from-literal=mode=prod
ctl create deployment web --image=busybox --replicas=2 -- sleep 3600`),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(files.filenames) == 0 {
				return cmderr.Usage(cmd.CommandPath(), "must specify one of -f and -k")
			}
			return createFromFiles(cmd.Context(), env, &files, &w)
		},
	}
	files.add(cmd, "to use to create the resource")
	w.add(cmd)
	cmd.AddCommand(newCreateNamespace(env), newCreateConfigMap(env), newCreateSecret(env), newCreateDeployment(env))
	return cmd
}

func createFromFiles(ctx context.Context, env *Env, files *fileFlags, w *writeFlags) error {
	c, err := newCreator(env, w)
	if err != nil {
		return err
	}
	ns, explicit, err := env.namespace()
	if err != nil {
		return err
	}
	r, err := env.resolver()
	if err != nil {
		return err
	}
	items, err := loadManifests(env, r, files.filenames, files.recursive, ns, explicit)
	if err != nil {
		return err
	}
	var errs []error
	for _, it := range items {
		if it.err != nil {
			errs = append(errs, it.err)
			continue
		}
		out, err := c.create(ctx, it.info)
		if err != nil {
			errs = append(errs, cmderr.WithSource("creating", it.info.Source, err))
			continue
		}
		if err := c.report(it.info, out, "created"); err != nil {
			return err
		}
	}
	return utilerrors.NewAggregate(errs)
}

// oneName requires exactly one NAME argument.
func oneName(cmd *cobra.Command, args []string) (string, error) {
	if len(args) == 0 {
		return "", cmderr.Usage(cmd.CommandPath(), "NAME is required")
	}
	if len(args) > 1 {
		return "", cmderr.Usage(cmd.CommandPath(), "exactly one NAME is required, got %d", len(args))
	}
	return args[0], nil
}

func newCreateNamespace(env *Env) *cobra.Command {
	var w writeFlags
	cmd := &cobra.Command{
		Use:     "namespace NAME [--dry-run=server|client|none]",
		Aliases: []string{"ns"},
		Short:   "Create a namespace with the specified name",
		Example: examples(`
# Create a new namespace named my-namespace
ctl create namespace my-namespace`),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			c, err := newCreator(env, &w)
			if err != nil {
				return err
			}
			return c.createTyped(cmd.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, "")
		},
	}
	w.add(cmd)
	return cmd
}

// sources are --from-literal, --from-file and --from-env-file.
type sources struct {
	literals, files, envFiles []string
}

func (s *sources) add(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&s.literals, "from-literal", nil, "Specify a key and literal value to insert (i.e. mykey=somevalue)")
	cmd.Flags().StringSliceVar(&s.files, "from-file", nil, "Key file can be specified using its file path, in which case file basename will be used as key, or optionally with a key and file path, in which case the given key will be used.  Specifying a directory will iterate each named file in the directory whose basename is a valid key.")
	cmd.Flags().StringSliceVar(&s.envFiles, "from-env-file", nil, "Specify the path to a file to read lines of key=val pairs to create (i.e. a Docker .env file).")
}

// data gathers the key/value pairs, refusing duplicates and bad keys.
func (s *sources) data() (map[string][]byte, error) {
	out := map[string][]byte{}
	put := func(k string, v []byte) error {
		if errs := validation.IsConfigMapKey(k); len(errs) > 0 {
			return fmt.Errorf("%q is not a valid key name: %s", k, strings.Join(errs, ";"))
		}
		if _, dup := out[k]; dup {
			return fmt.Errorf("cannot add key %q, another key by that name already exists in Data for ConfigMap %q", k, "")
		}
		out[k] = v
		return nil
	}
	for _, l := range s.literals {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid literal source %v, expected key=value", l)
		}
		if err := put(k, []byte(strings.Trim(v, `"`))); err != nil {
			return nil, err
		}
	}
	for _, f := range s.files {
		key, path, ok := strings.Cut(f, "=")
		if !ok {
			path, key = f, ""
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("error reading %s: no such file or directory", path)
		}
		if fi.IsDir() {
			if key != "" {
				return nil, fmt.Errorf("cannot give a key name for a directory path")
			}
			entries, err := os.ReadDir(path)
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				if e.IsDir() {
					continue
				}
				data, err := os.ReadFile(filepath.Join(path, e.Name()))
				if err != nil {
					return nil, err
				}
				if err := put(e.Name(), data); err != nil {
					return nil, err
				}
			}
			continue
		}
		if key == "" {
			key = filepath.Base(path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if err := put(key, data); err != nil {
			return nil, err
		}
	}
	for _, f := range s.envFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for i, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil, fmt.Errorf("%s: line %d: invalid environment variable %q, expected key=value", f, i+1, line)
			}
			if err := put(k, []byte(v)); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func newCreateConfigMap(env *Env) *cobra.Command {
	var w writeFlags
	var src sources
	cmd := &cobra.Command{
		Use:     "configmap NAME [--from-file=[key=]source] [--from-literal=key1=value1] [--dry-run=server|client|none]",
		Aliases: []string{"cm"},
		Short:   "Create a config map from a local file, directory or literal value",
		Example: examples(`
# Create a new config map named my-config with key1=config1 and key2=config2
ctl create configmap my-config --from-literal=key1=config1 --from-literal=key2=config2

# Create a new config map from the files in a directory, or one file with a key
ctl create configmap my-config --from-file=path/to/bar
ctl create configmap my-config --from-file=key1=/path/to/bar/file1.txt`),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			data, err := src.data()
			if err != nil {
				return err
			}
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}
			for k, v := range data {
				if cm.Data == nil {
					cm.Data = map[string]string{}
				}
				cm.Data[k] = string(v)
			}
			return createInNamespace(cmd.Context(), env, &w, cm)
		},
	}
	src.add(cmd)
	w.add(cmd)
	return cmd
}

func createInNamespace(ctx context.Context, env *Env, w *writeFlags, obj runtime.Object) error {
	c, err := newCreator(env, w)
	if err != nil {
		return err
	}
	ns, _, err := env.namespace()
	if err != nil {
		return err
	}
	return c.createTyped(ctx, obj, ns)
}

func newCreateSecret(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret (generic) NAME",
		Short: "Create a secret",
		Example: examples(`
# Create a new secret named my-secret with keys for each file in folder bar
ctl create secret generic my-secret --from-file=path/to/bar

# Create a new secret with key1=supersecret and key2=topsecret
ctl create secret generic my-secret --from-literal=key1=supersecret --from-literal=key2=topsecret`),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	var w writeFlags
	var src sources
	var typ string
	generic := &cobra.Command{
		Use:   "generic NAME [--type=string] [--from-file=[key=]source] [--from-literal=key1=value1] [--dry-run=server|client|none]",
		Short: "Create a secret from a local file, directory, or literal value",
		Example: examples(`
# Create a new secret named my-secret with key1=supersecret and key2=topsecret
ctl create secret generic my-secret --from-literal=key1=supersecret --from-literal=key2=topsecret`),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			data, err := src.data()
			if err != nil {
				return err
			}
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}
			if typ != "" {
				s.Type = corev1.SecretType(typ)
			}
			if len(s.Data) == 0 {
				s.Data = nil
			}
			return createInNamespace(cmd.Context(), env, &w, s)
		},
	}
	src.add(generic)
	generic.Flags().StringVar(&typ, "type", "", "The type of secret to create")
	w.add(generic)
	cmd.AddCommand(generic)
	return cmd
}

// containerName is kubectl's container name for an image:
// "registry:5000/library/busybox:1.36" gives "busybox".
func containerName(image string) string {
	name := image
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.IndexAny(name, ":@"); i >= 0 {
		name = name[:i]
	}
	return name
}

func newCreateDeployment(env *Env) *cobra.Command {
	var w writeFlags
	var images []string
	var replicas, port int32
	cmd := &cobra.Command{
		Use:     "deployment NAME --image=image -- [COMMAND] [args...]",
		Aliases: []string{"deploy"},
		Short:   "Create a deployment with the specified name",
		Example: examples(`
# Create a deployment named my-nginx that runs the nginx image
ctl create deployment my-nginx --image=nginx

# Create a deployment with a command
ctl create deployment my-sleeper --image=busybox -- sleep 3600

# Create a deployment named my-nginx that runs the nginx image with 3 replicas, exposing port 80
ctl create deployment my-nginx --image=nginx --replicas=3 --port=80`),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmderr.Usage(cmd.CommandPath(), "NAME is required")
			}
			name, command := args[0], args[1:]
			if cmd.ArgsLenAtDash() > 1 {
				return cmderr.Usage(cmd.CommandPath(), "exactly one NAME is required, got %d", cmd.ArgsLenAtDash())
			}
			if len(images) == 0 {
				return errors.New("required flag(s) \"image\" not set")
			}
			if len(images) > 1 && len(command) > 0 {
				return errors.New("cannot specify multiple --image options and command")
			}
			labels := map[string]string{"app": name}
			d := &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
				Spec: appsv1.DeploymentSpec{
					Replicas: &replicas,
					Selector: &metav1.LabelSelector{MatchLabels: labels},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}},
				},
			}
			for _, img := range images {
				c := corev1.Container{Name: containerName(img), Image: img, Command: command}
				if port >= 0 {
					c.Ports = []corev1.ContainerPort{{ContainerPort: port}}
				}
				d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, c)
			}
			return createInNamespace(cmd.Context(), env, &w, d)
		},
	}
	cmd.Flags().StringSliceVar(&images, "image", nil, "Image names to run. A deployment can have multiple images set for multi-container pod.")
	cmd.Flags().Int32VarP(&replicas, "replicas", "r", 1, "Number of replicas to create. Default is 1.")
	cmd.Flags().Int32Var(&port, "port", -1, "The containerPort that this deployment exposes.")
	w.add(cmd)
	return cmd
}
