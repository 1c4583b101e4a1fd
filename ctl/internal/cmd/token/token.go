// Package token is `ctl token`: kubeadm's `kubeadm token` — create, list,
// delete and generate the bootstrap tokens nodes join with. A token is a
// Secret in kube-system (package bootstraptoken says how it is stored);
// `token create --print-join-command` prints the one command a new host
// runs to join (`ctl join`, package cmd/join).
package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
	"sigs.k8s.io/yaml"

	"coracle.dev/ctl/internal/bootstraptoken"
	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/shared/pki"
)

// New is the token command.
func New(env *cmdenv.Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage bootstrap tokens",
		Long: `This command manages bootstrap tokens: the shared secrets new nodes join the cluster with.

In short, bootstrap tokens are used for establishing bidirectional trust between a client and a server.
A bootstrap token can be used when a client (for example a node that is about to join the cluster) needs
to trust the server it is talking to. Then a bootstrap token with the "signing" usage can be used.
bootstrap tokens can also function as a way to allow short-lived authentication to the API Server
(the token serves as a way for the API Server to trust the client), for example for doing the TLS Bootstrap.

What is a bootstrap token more exactly?
 - It is a Secret in the kube-system namespace of type "bootstrap.kubernetes.io/token".
 - A bootstrap token must be of the form "[a-z0-9]{6}.[a-z0-9]{16}". The former part is the public token ID,
   while the latter is the Token Secret and it must be kept private at all circumstances!
 - The name of the Secret must be named "bootstrap-token-(token-id)".

You can read more about bootstrap tokens here:
  https://kubernetes.io/docs/admin/bootstrap-tokens/`,
		Example: helptext.Examples(`
# Create a token and print the command a new node joins with
ctl token create --print-join-command

# List the tokens
ctl token list

# Delete a token
ctl token delete abcdef`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_ = cmd.Help()
			return fmt.Errorf("missing subcommand; %q is not meant to be run on its own", cmd.CommandPath())
		},
	}
	cmd.AddCommand(newCreate(env), newList(env), newDelete(env), newGenerate(env))
	return cmd
}

func newCreate(env *cmdenv.Env) *cobra.Command {
	spec := bootstraptoken.Spec{
		TTL:    bootstraptoken.DefaultTTL,
		Usages: append([]string(nil), bootstraptoken.DefaultUsages...),
		Groups: append([]string(nil), bootstraptoken.DefaultGroups...),
	}
	var printJoin bool
	cmd := &cobra.Command{
		Use:                   "create [token]",
		DisableFlagsInUseLine: true,
		Short:                 "Create bootstrap tokens on the server",
		Long: `This command will create a bootstrap token for you.
You can specify the usages for this token, the "time to live" and an optional human friendly description.

The [token] is the actual token to write.
This should be a securely generated random token of the form "[a-z0-9]{6}.[a-z0-9]{16}".
If no [token] is given, ctl will generate a random token instead.`,
		Example: helptext.Examples(`
# Create a token valid for 24 hours and print it
ctl token create

# Create a token and print the command a new node joins with
ctl token create --print-join-command

# Create a given token that never expires
ctl token create abcdef.0123456789abcdef --ttl 0 --description "for the rack 2 nodes"`),
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				spec.Token = args[0]
			}
			return runCreate(cmd.Context(), env, spec, printJoin)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&printJoin, "print-join-command", false, "Instead of printing only the token, print the full 'ctl join' command needed to join the cluster using the token.")
	f.DurationVar(&spec.TTL, "ttl", spec.TTL, "The duration before the token is automatically deleted (e.g. 1s, 2m, 3h). If set to '0', the token will never expire")
	f.StringSliceVar(&spec.Usages, "usages", spec.Usages, fmt.Sprintf("Describes the ways in which this token can be used. You can pass --usages multiple times or provide a comma separated list of options. Valid options: [%s]", strings.Join(bootstrapapi.KnownTokenUsages, ",")))
	f.StringSliceVar(&spec.Groups, "groups", spec.Groups, fmt.Sprintf("Extra groups that this token will authenticate as when used for authentication. Must match %q", bootstrapapi.BootstrapGroupPattern))
	f.StringVar(&spec.Description, "description", "", "A human friendly description of how this token is used.")
	return cmd
}

// runCreate stores a new token and prints it, or the join command.
func runCreate(ctx context.Context, env *cmdenv.Env, spec bootstraptoken.Spec, printJoin bool) error {
	tok, err := bootstraptoken.New(spec, env.Now())
	if err != nil {
		return err
	}
	typed, err := env.Typed()
	if err != nil {
		return err
	}
	// The join command's parts are read before the token is stored, so a
	// cluster that cannot say them is left without a token nobody saw.
	var endpoint string
	var hashes []string
	if printJoin {
		if endpoint, hashes, err = joinTarget(ctx, env, typed); err != nil {
			return fmt.Errorf("failed to get join command: %w", err)
		}
	}
	secrets := typed.CoreV1().Secrets(metav1.NamespaceSystem)
	s := tok.ToSecret()
	if _, err := secrets.Get(ctx, s.Name, metav1.GetOptions{}); err == nil {
		return fmt.Errorf("a token with id %q already exists", tok.ID)
	}
	if _, err := secrets.Create(ctx, s, metav1.CreateOptions{FieldManager: "ctl"}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("a token with id %q already exists", tok.ID)
		}
		return fmt.Errorf("failed to create or update bootstrap token with name %s: %v", s.Name, err)
	}
	if !printJoin {
		fmt.Fprintln(env.Out, tok.String())
		return nil
	}
	line := fmt.Sprintf("ctl join %s --token %s", endpoint, tok.String())
	for _, h := range hashes {
		line += " --discovery-token-ca-cert-hash " + h
	}
	fmt.Fprintln(env.Out, line)
	return nil
}

// joinTarget is where a new node finds the cluster and what it pins: the
// server of the kubeconfig in kube-public/cluster-info (the apiserver
// keeps it at its advertised address, which the nodes reach), else the
// current kubeconfig's; and the public-key hash of each CA certificate
// of the current kubeconfig, the one this (admin) user trusts.
func joinTarget(ctx context.Context, env *cmdenv.Env, typed kubernetes.Interface) (string, []string, error) {
	cfg, err := env.REST()
	if err != nil {
		return "", nil, err
	}
	hashes, err := caHashes(cfg)
	if err != nil {
		return "", nil, err
	}
	server := cfg.Host
	cm, err := typed.CoreV1().ConfigMaps(metav1.NamespacePublic).Get(ctx, bootstrapapi.ConfigMapClusterInfo, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return "", nil, err
	default:
		if s := clusterInfoServer(cm); s != "" {
			server = s
		}
	}
	endpoint, err := hostPort(server)
	if err != nil {
		return "", nil, err
	}
	return endpoint, hashes, nil
}

// clusterInfoServer is the server of the one cluster cluster-info's
// kubeconfig names, or "".
func clusterInfoServer(cm *corev1.ConfigMap) string {
	cfg, err := clientcmd.Load([]byte(cm.Data[bootstrapapi.KubeConfigKey]))
	if err != nil || len(cfg.Clusters) != 1 {
		return ""
	}
	for _, c := range cfg.Clusters {
		return c.Server
	}
	return ""
}

// caHashes are the pins of the CA certificates a client configuration
// trusts.
func caHashes(cfg *rest.Config) ([]string, error) {
	data := cfg.CAData
	if len(data) == 0 && cfg.CAFile != "" {
		var err error
		if data, err = os.ReadFile(cfg.CAFile); err != nil {
			return nil, fmt.Errorf("failed to load CA cert from kubeconfig: %w", err)
		}
	}
	if len(data) == 0 {
		return nil, errors.New("the current kubeconfig names no certificate authority for its cluster, so there is no CA to pin with --discovery-token-ca-cert-hash")
	}
	certs, err := certutil.ParseCertsPEM(data)
	if err != nil {
		return nil, fmt.Errorf("failed to parse CA certificate from kubeconfig: %w", err)
	}
	var hashes []string
	for _, c := range certs {
		hashes = append(hashes, pki.PublicKeyHash(c))
	}
	return hashes, nil
}

// hostPort strips the scheme of a server URL, adding HTTPS's port when it
// names none.
func hostPort(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("the API server address %q is not a URL", server)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "443"), nil
	}
	return u.Host, nil
}

func newList(env *cmdenv.Env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List bootstrap tokens on the server",
		Long:  "This command will list all bootstrap tokens for you.",
		Example: helptext.Examples(`
# List the tokens, with when each expires
ctl token list

# List them as JSON
ctl token list -o json`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runList(cmd.Context(), env, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "Output format. One of: text|json|yaml.")
	return cmd
}

// columns are `kubeadm token list`'s.
var columns = []string{"TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"}

// runList prints the bootstrap tokens of kube-system; a Secret that is
// not a well-formed token is reported on standard error and skipped.
func runList(ctx context.Context, env *cmdenv.Env, output string) error {
	switch output {
	case "text", "json", "yaml":
	default:
		return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,text,yaml", output)
	}
	typed, err := env.Typed()
	if err != nil {
		return err
	}
	sel := fields.OneTermEqualSelector("type", string(bootstrapapi.SecretTypeBootstrapToken)).String()
	list, err := typed.CoreV1().Secrets(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return fmt.Errorf("failed to list bootstrap tokens: %v", err)
	}
	// One tab writer for every row: kubeadm uses one per row, which
	// misaligns a token that never expires; with the same cell widths,
	// the text is kubeadm's wherever kubeadm's rows line up.
	tw := tabwriter.NewWriter(env.Out, 10, 4, 3, ' ', 0)
	first := true
	for i := range list.Items {
		s := &list.Items[i]
		if s.Type != bootstrapapi.SecretTypeBootstrapToken {
			continue
		}
		tok, err := bootstraptoken.FromSecret(s)
		if err != nil {
			fmt.Fprintln(env.ErrOut, err)
			continue
		}
		switch output {
		case "text":
			if first {
				fmt.Fprintln(tw, strings.Join(columns, "\t"))
			}
			fmt.Fprint(tw, row(tok, env.Now()))
		case "json":
			b, _ := json.MarshalIndent(outputOf(tok), "", "    ")
			fmt.Fprintf(env.Out, "%s\n", b)
		case "yaml":
			if !first {
				fmt.Fprintln(env.Out, "---")
			}
			b, _ := yaml.Marshal(outputOf(tok))
			fmt.Fprint(env.Out, string(b))
		}
		first = false
	}
	return tw.Flush()
}

// row is one token's line for the tab writer, with kubeadm's cells:
// fixed widths for TTL, USAGES and DESCRIPTION, "<none>" for what is
// empty.
func row(tok *bootstraptoken.Token, now time.Time) string {
	ttl, expires := "<forever>", "<never>"
	if tok.Expires != nil {
		ttl = duration.ShortHumanDuration(tok.Expires.Sub(now))
		expires = tok.Expires.Format(time.RFC3339)
	}
	return fmt.Sprintf("%s\t%-9s\t%s\t%-22s\t%-56s\t%s\n", tok.String(), ttl, expires,
		orNone(strings.Join(tok.Usages, ",")), orNone(tok.Description), orNone(strings.Join(tok.Groups, ",")))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// outputToken is kubeadm's output.kubeadm.k8s.io/v1alpha3 BootstrapToken,
// what `kubeadm token list -o json|yaml` prints.
type outputToken struct {
	Kind        string       `json:"kind"`
	APIVersion  string       `json:"apiVersion"`
	Token       string       `json:"token"`
	Description string       `json:"description,omitempty"`
	Expires     *metav1.Time `json:"expires,omitempty"`
	Usages      []string     `json:"usages,omitempty"`
	Groups      []string     `json:"groups,omitempty"`
}

func outputOf(tok *bootstraptoken.Token) outputToken {
	o := outputToken{Kind: "BootstrapToken", APIVersion: "output.kubeadm.k8s.io/v1alpha3", Token: tok.String(),
		Description: tok.Description, Usages: tok.Usages, Groups: tok.Groups}
	if tok.Expires != nil {
		o.Expires = &metav1.Time{Time: *tok.Expires}
	}
	return o
}

func newDelete(env *cmdenv.Env) *cobra.Command {
	return &cobra.Command{
		Use:                   "delete [token-value] ...",
		DisableFlagsInUseLine: true,
		Short:                 "Delete bootstrap tokens on the server",
		Long: `This command will delete a list of bootstrap tokens for you.

The [token-value] is the full Token of the form "[a-z0-9]{6}.[a-z0-9]{16}" or the
Token ID of the form "[a-z0-9]{6}" to delete.`,
		Example: helptext.Examples(`
# Delete the token with id abcdef
ctl token delete abcdef

# Delete a token given whole
ctl token delete abcdef.0123456789abcdef`),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return cmderr.Usage(cmd.CommandPath(), "missing argument; 'token delete' is missing token of form %q or %q", bootstrapapi.BootstrapTokenPattern, bootstrapapi.BootstrapTokenIDPattern)
			}
			return runDelete(cmd.Context(), env, args)
		},
	}
}

// runDelete deletes each token named by id or whole, stopping at the
// first failure as kubeadm does.
func runDelete(ctx context.Context, env *cmdenv.Env, args []string) error {
	typed, err := env.Typed()
	if err != nil {
		return err
	}
	for _, arg := range args {
		id := arg
		if !bootstraputil.IsValidBootstrapTokenID(arg) {
			if id, _, err = bootstraptoken.Parse(arg); err != nil {
				return fmt.Errorf("given token didn't match pattern %q or %q", bootstrapapi.BootstrapTokenPattern, bootstrapapi.BootstrapTokenIDPattern)
			}
		}
		if err := typed.CoreV1().Secrets(metav1.NamespaceSystem).Delete(ctx, bootstraptoken.SecretName(id), metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("failed to delete bootstrap token %q: %v", id, err)
		}
		fmt.Fprintf(env.Out, "bootstrap token %q deleted\n", id)
	}
	return nil
}

func newGenerate(env *cmdenv.Env) *cobra.Command {
	return &cobra.Command{
		Use:   "generate",
		Short: "Generate and print a bootstrap token, but do not create it on the server",
		Long: `This command will print out a randomly-generated bootstrap token that can be used with
the "token create" and "join" commands.

You don't have to use this command in order to generate a token. You can do so
yourself as long as it is in the format "[a-z0-9]{6}.[a-z0-9]{16}". This
command is provided for convenience to generate tokens in the given format.`,
		Example: helptext.Examples(`
# Generate a token, then store it
TOKEN=$(ctl token generate)
ctl token create "$TOKEN"`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok, err := bootstraputil.GenerateBootstrapToken()
			if err != nil {
				return err
			}
			fmt.Fprintln(env.Out, tok)
			return nil
		},
	}
}
