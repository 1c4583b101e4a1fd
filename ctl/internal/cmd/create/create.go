// Package create is `ctl create`: objects from -f sources, and the
// generators namespace, configmap, secret generic, deployment,
// serviceaccount, role, clusterrole, rolebinding, clusterrolebinding,
// poddisruptionbudget and quota;
// `create token` requests a ServiceAccount token (TokenRequest) and
// prints it.
package create

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
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/creator"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/ctl/internal/objects"
)

// New is the create command.
func New(env *cmdenv.Env) *cobra.Command {
	var files objects.Files
	var w creator.Flags
	cmd := &cobra.Command{
		Use:   "create -f FILENAME",
		Short: "Create a resource from a file or from stdin",
		Long: `Create a resource from a file or from stdin.

JSON and YAML formats are accepted. Objects that already exist are an error;
use "ctl apply" to create or update.`,
		Example: helptext.Examples(`
# Create a pod using the data in pod.json
ctl create -f ./pod.json

# Create a pod based on the JSON passed into stdin
cat pod.json | ctl create -f -

# Create a namespace, a config map and a deployment
ctl create namespace staging
ctl create configmap app-config --from-literal=mode=prod
ctl create deployment web --image=busybox --replicas=2 -- sleep 3600`),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(files.Filenames) == 0 {
				return cmderr.Usage(cmd.CommandPath(), "must specify one of -f and -k")
			}
			return createFromFiles(cmd.Context(), env, &files, &w)
		},
	}
	files.Add(cmd, "to use to create the resource")
	w.Add(cmd)
	cmd.AddCommand(newCreateNamespace(env), newCreateConfigMap(env), newCreateSecret(env), newCreateDeployment(env),
		newCreateServiceAccount(env), newCreateRole(env), newCreateClusterRole(env), newCreateRoleBinding(env),
		newCreateClusterRoleBinding(env), newCreateToken(env), newCreatePodDisruptionBudget(env), newCreateQuota(env))
	return cmd
}

func createFromFiles(ctx context.Context, env *cmdenv.Env, files *objects.Files, w *creator.Flags) error {
	c, err := creator.New(env, w)
	if err != nil {
		return err
	}
	ns, explicit, err := env.Namespace()
	if err != nil {
		return err
	}
	r, err := env.Resolver()
	if err != nil {
		return err
	}
	items, err := objects.Load(env, r, files, ns, explicit)
	if err != nil {
		return err
	}
	var errs []error
	for _, it := range items {
		if it.Err != nil {
			errs = append(errs, it.Err)
			continue
		}
		out, err := c.Create(ctx, it.Info)
		if err != nil {
			errs = append(errs, cmderr.WithSource("creating", it.Info.Source, err))
			continue
		}
		if err := c.Report(it.Info, out, "created"); err != nil {
			return err
		}
	}
	return utilerrors.NewAggregate(errs)
}

// oneName requires exactly one NAME argument (before any "--").
func oneName(cmd *cobra.Command, args []string) (string, error) {
	n := cmd.ArgsLenAtDash()
	if n == -1 {
		n = len(args)
	}
	if n != 1 {
		return "", cmderr.Usage(cmd.CommandPath(), "exactly one NAME is required, got %d", n)
	}
	return args[0], nil
}

func newCreateNamespace(env *cmdenv.Env) *cobra.Command {
	var w creator.Flags
	cmd := &cobra.Command{
		Use:     "namespace NAME [--dry-run=server|client|none]",
		Aliases: []string{"ns"},
		Short:   "Create a namespace with the specified name",
		Example: helptext.Examples(`
# Create a new namespace named my-namespace
ctl create namespace my-namespace`),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			c, err := creator.New(env, &w)
			if err != nil {
				return err
			}
			return c.CreateTyped(cmd.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, "", "created")
		},
	}
	w.Add(cmd)
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

func newCreateConfigMap(env *cmdenv.Env) *cobra.Command {
	var w creator.Flags
	var src sources
	cmd := &cobra.Command{
		Use:     "configmap NAME [--from-file=[key=]source] [--from-literal=key1=value1] [--dry-run=server|client|none]",
		Aliases: []string{"cm"},
		Short:   "Create a config map from a local file, directory or literal value",
		Example: helptext.Examples(`
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
			return creator.InNamespace(cmd.Context(), env, &w, cm)
		},
	}
	src.add(cmd)
	w.Add(cmd)
	return cmd
}

func newCreateSecret(env *cmdenv.Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret (generic) NAME",
		Short: "Create a secret",
		Example: helptext.Examples(`
# Create a new secret named my-secret with keys for each file in folder bar
ctl create secret generic my-secret --from-file=path/to/bar

# Create a new secret with key1=supersecret and key2=topsecret
ctl create secret generic my-secret --from-literal=key1=supersecret --from-literal=key2=topsecret`),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	var w creator.Flags
	var src sources
	var typ string
	generic := &cobra.Command{
		Use:   "generic NAME [--type=string] [--from-file=[key=]source] [--from-literal=key1=value1] [--dry-run=server|client|none]",
		Short: "Create a secret from a local file, directory, or literal value",
		Example: helptext.Examples(`
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
			return creator.InNamespace(cmd.Context(), env, &w, s)
		},
	}
	src.add(generic)
	generic.Flags().StringVar(&typ, "type", "", "The type of secret to create")
	w.Add(generic)
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

func newCreateDeployment(env *cmdenv.Env) *cobra.Command {
	var w creator.Flags
	var images []string
	var replicas, port int32
	cmd := &cobra.Command{
		Use:     "deployment NAME --image=image -- [COMMAND] [args...]",
		Aliases: []string{"deploy"},
		Short:   "Create a deployment with the specified name",
		Example: helptext.Examples(`
# Create a deployment named my-nginx that runs the nginx image
ctl create deployment my-nginx --image=nginx

# Create a deployment with a command
ctl create deployment my-sleeper --image=busybox -- sleep 3600

# Create a deployment named my-nginx that runs the nginx image with 3 replicas, exposing port 80
ctl create deployment my-nginx --image=nginx --replicas=3 --port=80`),
		RunE: func(cmd *cobra.Command, args []string) error {
			// NAME, then the command after "--".
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			command := args[1:]
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
			return creator.InNamespace(cmd.Context(), env, &w, d)
		},
	}
	cmd.Flags().StringSliceVar(&images, "image", nil, "Image names to run. A deployment can have multiple images set for multi-container pod.")
	cmd.Flags().Int32VarP(&replicas, "replicas", "r", 1, "Number of replicas to create. Default is 1.")
	cmd.Flags().Int32Var(&port, "port", -1, "The containerPort that this deployment exposes.")
	w.Add(cmd)
	return cmd
}
