package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	authenticationv1alpha1 "k8s.io/api/authentication/v1alpha1"
	authenticationv1beta1 "k8s.io/api/authentication/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	cliprinters "k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/ctl/internal/printers"
)

// kubectl's words for a server without the API, or a caller not allowed
// to use it.
var (
	errSelfReviewNotEnabled = errors.New("the selfsubjectreviews API is not enabled in the cluster")
	errSelfReviewForbidden  = errors.New("the selfsubjectreviews API is not enabled in the cluster or you do not have permission to call it")
)

func newWhoAmI(env *cmdenv.Env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:                   "whoami",
		DisableFlagsInUseLine: true,
		Short:                 "Experimental: Check self subject attributes",
		Long: `Experimental: Check who you are and your attributes (groups, extra).

        This command is helpful to get yourself aware of the current user attributes,
        especially when dynamic authentication, e.g., token webhook, auth proxy, or OIDC provider,
        is enabled in the Kubernetes cluster.`,
		Example: helptext.Examples(`
# Get your subject attributes
ctl auth whoami

# Get your subject attributes in JSON format
ctl auth whoami -o json`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The printer first: a bad -o fails before any request.
			var p printers.Printer
			if cmd.Flags().Changed("output") {
				f, err := printers.ParseFormat(output)
				if err != nil {
					return err
				}
				if p, err = printers.NewObject(f, false); err != nil {
					return err
				}
			}
			typed, err := env.Typed()
			if err != nil {
				return err
			}
			review, err := selfSubjectReview(cmd.Context(), typed)
			if err != nil {
				return err
			}
			if p == nil {
				return printUserInfo(env.Out, userInfo(review))
			}
			return printObject(p, review, env.Out)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Output format. One of: (json, yaml, name, jsonpath=..., custom-columns=...).")
	return cmd
}

// selfSubjectReview asks the server who the caller is: through
// authentication.k8s.io/v1, falling back to v1beta1 and v1alpha1 on a
// server that does not serve it (as kubectl does). The review comes back
// with its apiVersion and kind set, for the object printers.
func selfSubjectReview(ctx context.Context, c kubernetes.Interface) (runtime.Object, error) {
	var review runtime.Object
	v1, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err == nil {
		v1.SetGroupVersionKind(authenticationv1.SchemeGroupVersion.WithKind("SelfSubjectReview"))
		review = v1
	}
	if apierrors.IsNotFound(err) {
		var beta *authenticationv1beta1.SelfSubjectReview
		beta, err = c.AuthenticationV1beta1().SelfSubjectReviews().Create(ctx, &authenticationv1beta1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err == nil {
			beta.SetGroupVersionKind(authenticationv1beta1.SchemeGroupVersion.WithKind("SelfSubjectReview"))
			review = beta
		}
	}
	if apierrors.IsNotFound(err) {
		var alpha *authenticationv1alpha1.SelfSubjectReview
		alpha, err = c.AuthenticationV1alpha1().SelfSubjectReviews().Create(ctx, &authenticationv1alpha1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err == nil {
			alpha.SetGroupVersionKind(authenticationv1alpha1.SchemeGroupVersion.WithKind("SelfSubjectReview"))
			review = alpha
		}
	}
	switch {
	case apierrors.IsForbidden(err):
		return nil, errSelfReviewForbidden
	case apierrors.IsNotFound(err):
		return nil, errSelfReviewNotEnabled
	case err != nil:
		return nil, err
	}
	return review, nil
}

// userInfo is the user a review of any version names.
func userInfo(review runtime.Object) authenticationv1.UserInfo {
	switch r := review.(type) {
	case *authenticationv1.SelfSubjectReview:
		return r.Status.UserInfo
	case *authenticationv1beta1.SelfSubjectReview:
		return r.Status.UserInfo
	case *authenticationv1alpha1.SelfSubjectReview:
		return r.Status.UserInfo
	}
	return authenticationv1.UserInfo{}
}

// printUserInfo prints kubectl's ATTRIBUTE/VALUE table: the username,
// UID and groups when set, then each extra by key.
func printUserInfo(out io.Writer, u authenticationv1.UserInfo) error {
	w := cliprinters.GetNewTabWriter(out)
	fmt.Fprintln(w, "ATTRIBUTE\tVALUE")
	if u.Username != "" {
		fmt.Fprintf(w, "Username\t%s\n", u.Username)
	}
	if u.UID != "" {
		fmt.Fprintf(w, "UID\t%s\n", u.UID)
	}
	if len(u.Groups) > 0 {
		fmt.Fprintf(w, "Groups\t%v\n", u.Groups)
	}
	keys := make([]string, 0, len(u.Extra))
	for k := range u.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "Extra: %s\t%v\n", k, []string(u.Extra[k]))
	}
	return w.Flush()
}

// printObject prints a typed object under -o. Printed typed, not as a
// map, its fields keep the type's order, as kubectl prints them; custom
// columns print their row on Flush.
func printObject(p printers.Printer, obj runtime.Object, w io.Writer) error {
	if err := p.PrintObj(obj, w); err != nil {
		return err
	}
	if cc, ok := p.(*printers.CustomColumns); ok {
		return cc.Flush(w)
	}
	return nil
}
