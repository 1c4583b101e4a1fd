package create

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	cliprinters "k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/creator"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/ctl/internal/printers"
)

func newCreateServiceAccount(env *cmdenv.Env) *cobra.Command {
	var w creator.Flags
	cmd := &cobra.Command{
		Use:                   "serviceaccount NAME [--dry-run=server|client|none]",
		DisableFlagsInUseLine: true,
		Aliases:               []string{"sa"},
		Short:                 "Create a service account with the specified name",
		Long:                  "Create a service account with the specified name.",
		Example: helptext.Examples(`
# Create a new service account named my-service-account
ctl create serviceaccount my-service-account`),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			return creator.InNamespace(cmd.Context(), env, &w, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}})
		},
	}
	w.Add(cmd)
	return cmd
}

// boundObjectKinds are the kinds a token may be bound to, with their
// API versions: the token stops working when the object goes.
var boundObjectKinds = map[string]string{
	"Node":   "v1",
	"Pod":    "v1",
	"Secret": "v1",
}

func boundKindList() string {
	kinds := make([]string, 0, len(boundObjectKinds))
	for k := range boundObjectKinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return strings.Join(kinds, ", ")
}

// tokenFlags are create token's flags.
type tokenFlags struct {
	audiences []string
	duration  time.Duration
	boundKind string
	boundName string
	boundUID  string
}

// validate is kubectl's check of the flags, before any request.
func (f *tokenFlags) validate(name, namespace string) error {
	if name == "" {
		return errors.New("service account name is required")
	}
	if namespace == "" {
		return errors.New("--namespace is required")
	}
	if f.duration < 0 {
		return errors.New("--duration must be greater than or equal to 0")
	}
	if f.duration%time.Second != 0 {
		return errors.New("--duration cannot be expressed in units less than seconds")
	}
	for _, a := range f.audiences {
		if a == "" {
			return errors.New("--audience must not be an empty string")
		}
	}
	if f.boundKind == "" {
		if f.boundName != "" {
			return errors.New("--bound-object-name can only be set if --bound-object-kind is provided")
		}
		if f.boundUID != "" {
			return errors.New("--bound-object-uid can only be set if --bound-object-kind is provided")
		}
		return nil
	}
	if _, ok := boundObjectKinds[f.boundKind]; !ok {
		return fmt.Errorf("supported --bound-object-kind values are %s", boundKindList())
	}
	if f.boundName == "" {
		return errors.New("--bound-object-name is required if --bound-object-kind is provided")
	}
	return nil
}

// request is the TokenRequest the flags ask for; no duration leaves the
// lifetime to the server, no audience asks for the apiserver's own.
func (f *tokenFlags) request() *authenticationv1.TokenRequest {
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: f.audiences}}
	if f.duration > 0 {
		req.Spec.ExpirationSeconds = ptr.To(int64(f.duration / time.Second))
	}
	if f.boundKind != "" {
		req.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{
			Kind:       f.boundKind,
			APIVersion: boundObjectKinds[f.boundKind],
			Name:       f.boundName,
			UID:        types.UID(f.boundUID),
		}
	}
	return req
}

// requestToken asks the server for a token of the service account
// name in ns (the serviceaccounts/token subresource).
func requestToken(ctx context.Context, c kubernetes.Interface, ns, name string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	out, err := c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, req, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to create token: %v", err)
	}
	if out.Status.Token == "" {
		return nil, errors.New("failed to create token: no token in server response")
	}
	out.SetGroupVersionKind(authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"))
	return out, nil
}

// printToken prints the bare token: with a newline on a terminal, and
// without one otherwise, so that $(ctl create token x) and a pipe get
// exactly the token, as with kubectl.
func printToken(w io.Writer, token string) {
	if cliprinters.IsTerminal(w) {
		fmt.Fprintln(w, token)
		return
	}
	fmt.Fprint(w, token)
}

func newCreateToken(env *cmdenv.Env) *cobra.Command {
	var f tokenFlags
	var output string
	cmd := &cobra.Command{
		Use:                   "token SERVICE_ACCOUNT_NAME",
		DisableFlagsInUseLine: true,
		Short:                 "Request a service account token",
		Long:                  "Request a service account token.",
		Example: helptext.Examples(`
# Request a token to authenticate to the kube-apiserver as the service account "myapp" in the current namespace
ctl create token myapp

# Request a token for a service account in a custom namespace
ctl create token myapp --namespace myns

# Request a token with a custom expiration
ctl create token myapp --duration 10m

# Request a token with a custom audience
ctl create token myapp --audience https://example.com

# Request a token bound to an instance of a Secret object
ctl create token myapp --bound-object-kind Secret --bound-object-name mysecret

# Request a token bound to an instance of a Secret object with a specific UID
ctl create token myapp --bound-object-kind Secret --bound-object-name mysecret --bound-object-uid 0d4691ed-659b-4935-a832-355f77ee47cc`),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			var p printers.Printer
			if cmd.Flags().Changed("output") {
				format, err := printers.ParseFormat(output)
				if err != nil {
					return err
				}
				if p, err = printers.NewObject(format, false); err != nil {
					return err
				}
			}
			ns, _, err := env.Namespace()
			if err != nil {
				return err
			}
			if err := f.validate(name, ns); err != nil {
				return err
			}
			typed, err := env.Typed()
			if err != nil {
				return err
			}
			out, err := requestToken(cmd.Context(), typed, ns, name, f.request())
			if err != nil {
				return err
			}
			if p == nil {
				printToken(env.Out, out.Status.Token)
				return nil
			}
			// Typed, not as a map, so that its fields keep the type's
			// order, as kubectl prints them.
			if err := p.PrintObj(out, env.Out); err != nil {
				return err
			}
			if cc, ok := p.(*printers.CustomColumns); ok {
				return cc.Flush(env.Out)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Output format. One of: (json, yaml, name, jsonpath=..., custom-columns=...).")
	cmd.Flags().StringArrayVar(&f.audiences, "audience", nil, "Audience of the requested token. If unset, defaults to requesting a token for use with the Kubernetes API server. May be repeated to request a token valid for multiple audiences.")
	cmd.Flags().DurationVar(&f.duration, "duration", 0, "Requested lifetime of the issued token. If not set or if set to 0, the lifetime will be determined by the server automatically. The server may return a token with a longer or shorter lifetime.")
	cmd.Flags().StringVar(&f.boundKind, "bound-object-kind", "", "Kind of an object to bind the token to. Supported kinds are "+boundKindList()+". If set, --bound-object-name must be provided.")
	cmd.Flags().StringVar(&f.boundName, "bound-object-name", "", "Name of an object to bind the token to. The token will expire when the object is deleted. Requires --bound-object-kind.")
	cmd.Flags().StringVar(&f.boundUID, "bound-object-uid", "", "UID of an object to bind the token to. Requires --bound-object-kind and --bound-object-name. If unset, the UID of the existing object is used.")
	return cmd
}
