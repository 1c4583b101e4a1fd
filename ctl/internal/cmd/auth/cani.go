package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cliprinters "k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/discovery"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/helptext"
)

// The verbs kubectl knows; others are asked about all the same, with a
// warning, since an authorizer may know verbs kubectl does not.
var (
	resourceVerbs = map[string]bool{
		"get": true, "list": true, "watch": true, "create": true, "update": true, "patch": true, "delete": true,
		"deletecollection": true, "use": true, "bind": true, "impersonate": true, "*": true, "approve": true,
		"sign": true, "escalate": true, "attest": true,
	}
	nonResourceVerbs = map[string]bool{
		"get": true, "put": true, "post": true, "head": true, "options": true, "delete": true, "patch": true, "*": true,
	}
	// nonStandardResources are resources the authorizer knows but
	// discovery does not list (users and groups, for impersonate): no
	// warning that the server lacks them.
	nonStandardResources = map[string]bool{"users": true, "groups": true}
)

// errCanIArgs is kubectl's message for anything but VERB and TYPE.
var errCanIArgs = errors.New("you must specify two arguments: verb resource or verb resource/resourceName.\nSee 'ctl auth can-i -h' for help and examples.")

// canIFlags are can-i's own flags.
type canIFlags struct {
	allNamespaces bool
	quiet         bool
	list          bool
	noHeaders     bool
	subresource   string
}

// question is what can-i asks about: a verb on a resource (perhaps one
// object of it), or on a non-resource URL.
type question struct {
	verb           string
	resource       schema.GroupVersionResource
	name           string
	nonResourceURL string
}

func newCanI(env *cmdenv.Env) *cobra.Command {
	var f canIFlags
	cmd := &cobra.Command{
		Use:                   "can-i VERB [TYPE | TYPE/NAME | NONRESOURCEURL]",
		DisableFlagsInUseLine: true,
		Short:                 "Check whether an action is allowed",
		Long: `Check whether an action is allowed.

 VERB is a logical Kubernetes API verb like 'get', 'list', 'watch', 'delete', etc. TYPE is a Kubernetes resource. Shortcuts and groups will be resolved. NONRESOURCEURL is a partial URL that starts with "/". NAME is the name of a particular Kubernetes resource. This command pairs nicely with impersonation. See --as global flag.`,
		Example: helptext.Examples(`
# Check to see if I can create pods in any namespace
ctl auth can-i create pods --all-namespaces

# Check to see if I can list deployments in my current namespace
ctl auth can-i list deployments.apps

# Check to see if service account "foo" of namespace "dev" can list pods in the namespace "prod"
# You must be allowed to use impersonation for the global option "--as"
ctl auth can-i list pods --as=system:serviceaccount:dev:foo -n prod

# Check to see if I can do everything in my current namespace ("*" means all)
ctl auth can-i '*' '*'

# Check to see if I can get the job named "bar" in namespace "foo"
ctl auth can-i list jobs.batch/bar -n foo

# Check to see if I can read pod logs
ctl auth can-i get pods --subresource=log

# Check to see if I can access the URL /logs/
ctl auth can-i get /logs/

# Check to see if I can approve certificates.k8s.io
ctl auth can-i approve certificates.k8s.io

# List all allowed actions in namespace "foo"
ctl auth can-i --list --namespace=foo`),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCanI(cmd.Context(), env, &f, args)
		},
	}
	cmd.Flags().BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "If true, check the specified action in all namespaces.")
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "If true, suppress output and just return the exit code.")
	cmd.Flags().StringVar(&f.subresource, "subresource", "", "SubResource such as pod/log or deployment/scale")
	cmd.Flags().BoolVar(&f.list, "list", false, "If true, prints all allowed actions.")
	cmd.Flags().BoolVar(&f.noHeaders, "no-headers", false, "If true, prints allowed actions without headers")
	return cmd
}

// newWarner prints kubectl's "Warning: ..." lines, in colour on a
// terminal.
func newWarner(w io.Writer) *cliprinters.WarningPrinter {
	return cliprinters.NewWarningPrinter(w, cliprinters.WarningPrinterOptions{Color: cliprinters.AllowsColorOutput(w)})
}

func runCanI(ctx context.Context, env *cmdenv.Env, f *canIFlags, args []string) error {
	warn := newWarner(env.ErrOut)
	q, err := f.parse(args, env.Clients.Mapper, warn)
	if err != nil {
		return err
	}
	typed, err := env.Typed()
	if err != nil {
		return err
	}
	ns := ""
	if !f.allNamespaces {
		if ns, _, err = env.Namespace(); err != nil {
			return err
		}
	}
	disco, err := env.Clients.Discovery()
	if err != nil {
		return err
	}
	namespaced := func(gvr schema.GroupVersionResource) (bool, error) { return isNamespaced(disco, gvr) }
	if err := f.validate(q, namespaced, warn); err != nil {
		return err
	}
	if f.list {
		review := &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns}}
		out, err := typed.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		return printRules(env.Out, out.Status, f.noHeaders, warn)
	}
	out, err := typed.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, accessReview(q, ns, f.subresource), metav1.CreateOptions{})
	if err != nil {
		return err
	}
	w := env.Out
	if f.quiet {
		w = io.Discard
	}
	printDecision(w, out.Status)
	if !out.Status.Allowed {
		return cmderr.ErrExit
	}
	return nil
}

// parse reads can-i's arguments: none with --list, else VERB and TYPE,
// TYPE/NAME or a URL. The mapper is asked for only when a TYPE needs
// resolving.
func (f *canIFlags) parse(args []string, mapper func() (meta.RESTMapper, error), warn *cliprinters.WarningPrinter) (question, error) {
	if f.list {
		if len(args) != 0 {
			return question{}, errors.New("list option must be specified with no arguments")
		}
		return question{}, nil
	}
	if len(args) != 2 {
		return question{}, errCanIArgs
	}
	q := question{verb: args[0]}
	if strings.HasPrefix(args[1], "/") {
		q.nonResourceURL = args[1]
		return q, nil
	}
	typ, name, _ := strings.Cut(args[1], "/")
	m, err := mapper()
	if err != nil {
		return question{}, err
	}
	q.resource = resourceFor(m, typ, warn)
	q.name = name
	return q, nil
}

// resourceFor resolves TYPE through discovery as kubectl does: short
// names, singulars, "deployments.apps" and "deployments.v1.apps". A type
// the server does not know is asked about as typed, after a warning:
// the authorizer may still have rules for it.
func resourceFor(mapper meta.RESTMapper, arg string, warn *cliprinters.WarningPrinter) schema.GroupVersionResource {
	if arg == "*" {
		return schema.GroupVersionResource{Resource: arg}
	}
	full, gr := schema.ParseResourceArg(strings.ToLower(arg))
	var gvr schema.GroupVersionResource
	if full != nil {
		gvr, _ = mapper.ResourceFor(*full)
	}
	if !gvr.Empty() {
		return gvr
	}
	gvr, err := mapper.ResourceFor(gr.WithVersion(""))
	if err == nil {
		return gvr
	}
	if !nonStandardResources[gr.String()] {
		if gr.Group == "" {
			warn.Print(fmt.Sprintf("the server doesn't have a resource type '%s'\n", gr.Resource))
		} else {
			warn.Print(fmt.Sprintf("the server doesn't have a resource type '%s' in group '%s'\n", gr.Resource, gr.Group))
		}
	}
	return schema.GroupVersionResource{Resource: arg}
}

// validate refuses flags that do not go together and warns, as kubectl
// does, about unknown verbs and about a namespace given for a resource
// that lives in none.
func (f *canIFlags) validate(q question, namespaced func(schema.GroupVersionResource) (bool, error), warn *cliprinters.WarningPrinter) error {
	if f.list {
		if f.quiet || f.allNamespaces || f.subresource != "" {
			return errors.New("list option can't be specified with neither quiet, all-namespaces nor subresource options")
		}
		return nil
	}
	if q.nonResourceURL != "" {
		if f.subresource != "" {
			return errors.New("--subresource can not be used with NonResourceURL")
		}
		if !q.resource.Empty() || q.name != "" {
			return errors.New("NonResourceURL and ResourceName can not specified together")
		}
		if !nonResourceVerbs[q.verb] {
			warn.Print(fmt.Sprintf("verb '%s' is not a known verb\n", q.verb))
		}
	} else if !q.resource.Empty() && !f.allNamespaces {
		if ok, err := namespaced(q.resource); err == nil && !ok {
			if q.resource.Group == "" {
				warn.Print(fmt.Sprintf("resource '%s' is not namespace scoped\n", q.resource.Resource))
			} else {
				warn.Print(fmt.Sprintf("resource '%s' is not namespace scoped in group '%s'\n", q.resource.Resource, q.resource.Group))
			}
		}
		if !resourceVerbs[q.verb] {
			warn.Print(fmt.Sprintf("verb '%s' is not a known verb\n", q.verb))
		}
	}
	if f.noHeaders {
		return errors.New("--no-headers cannot be set without --list specified")
	}
	return nil
}

// isNamespaced looks the resource up in its group version's discovery
// document; "*" counts as namespaced.
func isNamespaced(d discovery.DiscoveryInterface, gvr schema.GroupVersionResource) (bool, error) {
	if gvr.Resource == "*" {
		return true, nil
	}
	if gvr.Version == "" {
		return true, fmt.Errorf("the server doesn't have a resource type '%s' in group '%s'", gvr.Resource, gvr.Group)
	}
	list, err := d.ServerResourcesForGroupVersion(gvr.GroupVersion().String())
	if err != nil {
		return true, err
	}
	for _, r := range list.APIResources {
		if r.Name == gvr.Resource {
			return r.Namespaced, nil
		}
	}
	return false, fmt.Errorf("the server doesn't have a resource type '%s' in group '%s'", gvr.Resource, gvr.Group)
}

// accessReview is the SelfSubjectAccessReview that asks q in namespace
// ns ("" for every namespace).
func accessReview(q question, ns, subresource string) *authorizationv1.SelfSubjectAccessReview {
	if q.nonResourceURL != "" {
		return &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: q.verb, Path: q.nonResourceURL},
		}}
	}
	return &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace:   ns,
			Verb:        q.verb,
			Group:       q.resource.Group,
			Resource:    q.resource.Resource,
			Subresource: subresource,
			Name:        q.name,
		},
	}}
}

// printDecision prints kubectl's answer: "yes", or "no" followed by the
// authorizer's reason and evaluation error when it gave them.
func printDecision(w io.Writer, st authorizationv1.SubjectAccessReviewStatus) {
	if st.Allowed {
		fmt.Fprintln(w, "yes")
		return
	}
	line := "no"
	if st.Reason != "" {
		line += " - " + st.Reason
	}
	if st.EvaluationError != "" {
		line += " - " + st.EvaluationError
	}
	fmt.Fprintln(w, line)
}
