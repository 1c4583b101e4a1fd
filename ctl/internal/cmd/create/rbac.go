package create

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/creator"
	"coracle.dev/ctl/internal/helptext"
)

var (
	// standardVerbs are the resource verbs create role accepts without a
	// warning.
	standardVerbs = []string{"*", "get", "delete", "list", "create", "update", "patch", "watch", "proxy", "deletecollection", "use", "bind", "escalate", "impersonate"}
	// nonResourceVerbs are the only verbs a rule on non-resource URLs
	// may carry.
	nonResourceVerbs = []string{"*", "get", "post", "put", "delete", "patch", "head", "options"}

	// specialVerbs mean something only on these resources, so a rule
	// granting them on anything else is refused.
	specialVerbs = map[string][]schema.GroupResource{
		"use": {
			{Group: "policy", Resource: "podsecuritypolicies"},
			{Group: "extensions", Resource: "podsecuritypolicies"},
		},
		"bind": {
			{Group: rbacv1.GroupName, Resource: "roles"},
			{Group: rbacv1.GroupName, Resource: "clusterroles"},
		},
		"escalate": {
			{Group: rbacv1.GroupName, Resource: "roles"},
			{Group: rbacv1.GroupName, Resource: "clusterroles"},
		},
		"impersonate": {
			{Group: "", Resource: "users"},
			{Group: "", Resource: "serviceaccounts"},
			{Group: "", Resource: "groups"},
			{Group: "authentication.k8s.io", Resource: "userextras"},
		},
	}
)

// resourceArg is one --resource value: resource[.group][/subresource].
type resourceArg struct {
	group, resource, subresource string
}

// ruleFlags are the flags of create role and create clusterrole that
// make up their one rule.
type ruleFlags struct {
	verbs           []string
	resources       []string
	resourceNames   []string
	nonResourceURLs []string
}

func (f *ruleFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringSliceVar(&f.verbs, "verb", nil, "Verb that applies to the resources contained in the rule")
	cmd.Flags().StringSliceVar(&f.resources, "resource", nil, "Resource that the rule applies to")
	cmd.Flags().StringArrayVar(&f.resourceNames, "resource-name", nil, "Resource in the white list that the rule applies to, repeat this flag for multiple items")
}

// rule is the parsed rule of a role: verbs and names without
// duplicates, "*" standing alone for every verb, and the resources split
// into group, resource and subresource.
type rule struct {
	verbs           []string
	resources       []resourceArg
	resourceNames   []string
	nonResourceURLs []string
}

func (f *ruleFlags) parse() rule {
	var r rule
	for _, v := range f.verbs {
		if v == "*" {
			r.verbs = []string{"*"}
			break
		}
		if !slices.Contains(r.verbs, v) {
			r.verbs = append(r.verbs, v)
		}
	}
	for _, arg := range f.resources {
		var ra resourceArg
		base, sub, hasSub := strings.Cut(arg, "/")
		if hasSub {
			ra.subresource = sub
		}
		res, group, hasGroup := strings.Cut(base, ".")
		ra.resource, ra.group = res, group
		// A bare "*" is every resource: the others add nothing.
		if ra.resource == "*" && !hasGroup && !hasSub {
			r.resources = []resourceArg{ra}
			break
		}
		r.resources = append(r.resources, ra)
	}
	r.resourceNames = unique(f.resourceNames)
	r.nonResourceURLs = unique(f.nonResourceURLs)
	return r
}

// unique keeps the first of each value, in order.
func unique(in []string) []string {
	var out []string
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// validateRole is create role's check of its rule, warning on errOut
// about verbs that are not standard. The mapper, asked for only once the
// flags pass, checks the resources against what the server serves.
func (r rule) validateRole(errOut io.Writer, mapper func() (meta.RESTMapper, error)) error {
	if len(r.verbs) == 0 {
		return errors.New("at least one verb must be specified")
	}
	r.warnVerbs(errOut)
	if len(r.resources) == 0 {
		return errors.New("at least one resource must be specified")
	}
	return r.validateResources(mapper)
}

// validateClusterRole is create clusterrole's check: an aggregation rule
// alone, or verbs on resources or non-resource URLs.
func (r rule) validateClusterRole(errOut io.Writer, aggregation map[string]string, mapper func() (meta.RESTMapper, error)) error {
	if len(aggregation) > 0 {
		if len(r.nonResourceURLs) > 0 || len(r.verbs) > 0 || len(r.resources) > 0 || len(r.resourceNames) > 0 {
			return errors.New("aggregation rule must be specified without nonResourceURLs, verbs, resources or resourceNames")
		}
		return nil
	}
	if len(r.verbs) == 0 {
		return errors.New("at least one verb must be specified")
	}
	if len(r.resources) == 0 && len(r.nonResourceURLs) == 0 {
		return errors.New("one of resource or nonResourceURL must be specified")
	}
	if len(r.resources) > 0 {
		r.warnVerbs(errOut)
		if err := r.validateResources(mapper); err != nil {
			return err
		}
	}
	if len(r.nonResourceURLs) > 0 {
		for _, v := range r.verbs {
			if !slices.Contains(nonResourceVerbs, v) {
				return fmt.Errorf("invalid verb: '%s' for nonResourceURL", v)
			}
		}
		for _, u := range r.nonResourceURLs {
			if u == "*" {
				continue
			}
			if !strings.HasPrefix(u, "/") {
				return errors.New("nonResourceURL should start with /")
			}
			if strings.ContainsRune(u[:len(u)-1], '*') {
				return errors.New("nonResourceURL only supports wildcard matches when '*' is at the end")
			}
		}
	}
	return nil
}

func (r rule) warnVerbs(errOut io.Writer) {
	for _, v := range r.verbs {
		if !slices.Contains(standardVerbs, v) {
			fmt.Fprintf(errOut, "Warning: '%s' is not a standard resource verb\n", v)
		}
	}
}

// validateResources refuses, resource by resource as kubectl: a group
// or subresource without its resource ("--resource=.apps"), a resource
// the server does not serve — unless it is a special verb's own (users
// and groups, which no discovery lists) — and a special verb on a
// resource it does not apply to. A "*" resource ends the check. The
// mapper is asked for only when a resource needs resolving.
func (r rule) validateResources(mapper func() (meta.RESTMapper, error)) error {
	var m meta.RESTMapper
	for _, res := range r.resources {
		if res.resource == "" {
			return errors.New("resource must be specified if apiGroup/subresource specified")
		}
		if res.resource == "*" {
			return nil
		}
		if m == nil {
			var err error
			if m, err = mapper(); err != nil {
				return err
			}
		}
		gvr, err := resolve(m, res)
		for _, v := range r.verbs {
			allowed, special := specialVerbs[v]
			if !special {
				continue
			}
			if !slices.Contains(allowed, gvr.GroupResource()) {
				return fmt.Errorf("can not perform '%s' on '%s' in group '%s'", v, gvr.Resource, gvr.Group)
			}
			err = nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// resolve maps a --resource through discovery ("rs.apps" is
// replicasets in apps); a resource the server does not know stays as
// typed, with the mapper's error.
func resolve(mapper meta.RESTMapper, res resourceArg) (schema.GroupVersionResource, error) {
	gvr, err := mapper.ResourceFor(schema.GroupVersionResource{Group: res.group, Resource: res.resource})
	if err != nil {
		return schema.GroupVersionResource{Group: res.group, Resource: res.resource}, err
	}
	return gvr, nil
}

// policyRules is the role's rules: one per API group (in group order)
// with the resources of that group, then one for the non-resource URLs.
func (r rule) policyRules(mapper meta.RESTMapper) []rbacv1.PolicyRule {
	byGroup := map[string][]string{}
	for _, res := range r.resources {
		gvr, _ := resolve(mapper, res)
		name := gvr.Resource
		if res.subresource != "" {
			name += "/" + res.subresource
		}
		if !slices.Contains(byGroup[gvr.Group], name) {
			byGroup[gvr.Group] = append(byGroup[gvr.Group], name)
		}
	}
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	rules := []rbacv1.PolicyRule{}
	for _, g := range groups {
		rules = append(rules, rbacv1.PolicyRule{Verbs: r.verbs, APIGroups: []string{g}, Resources: byGroup[g], ResourceNames: r.resourceNames})
	}
	if len(r.nonResourceURLs) > 0 {
		rules = append(rules, rbacv1.PolicyRule{Verbs: r.verbs, NonResourceURLs: r.nonResourceURLs})
	}
	return rules
}

// bareNoMatch prints a --resource the server does not serve as kubectl
// does, `the server doesn't have a resource type "foos"`, without the
// "error: " that starts ctl's other messages (kubectl's create role
// hands the mapper's error to its standard wording, which has none).
func bareNoMatch(env *cmdenv.Env, err error) error {
	if !meta.IsNoMatchError(err) {
		return err
	}
	fmt.Fprintln(env.ErrOut, strings.TrimPrefix(cmderr.Message(err), "error: "))
	return cmderr.ErrExit
}

func newCreateRole(env *cmdenv.Env) *cobra.Command {
	var w creator.Flags
	var f ruleFlags
	cmd := &cobra.Command{
		Use:                   "role NAME --verb=verb --resource=resource.group/subresource [--resource-name=resourcename] [--dry-run=server|client|none]",
		DisableFlagsInUseLine: true,
		Short:                 "Create a role with single rule",
		Long:                  "Create a role with single rule.",
		Example: helptext.Examples(`
# Create a role named "pod-reader" that allows user to perform "get", "watch" and "list" on pods
ctl create role pod-reader --verb=get --verb=list --verb=watch --resource=pods

# Create a role named "pod-reader" with ResourceName specified
ctl create role pod-reader --verb=get --resource=pods --resource-name=readablepod --resource-name=anotherpod

# Create a role named "foo" with API Group specified
ctl create role foo --verb=get,list,watch --resource=rs.apps

# Create a role named "foo" with SubResource specified
ctl create role foo --verb=get,list,watch --resource=pods,pods/status`),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			c, err := creator.New(env, &w)
			if err != nil {
				return err
			}
			r := f.parse()
			if err := r.validateRole(env.ErrOut, env.Clients.Mapper); err != nil {
				return bareNoMatch(env, err)
			}
			mapper, err := env.Clients.Mapper()
			if err != nil {
				return err
			}
			ns, _, err := env.Namespace()
			if err != nil {
				return err
			}
			role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: r.policyRules(mapper)}
			return c.CreateTyped(cmd.Context(), role, ns, "created")
		},
	}
	f.add(cmd)
	w.Add(cmd)
	return cmd
}

// labelMap is --aggregation-rule: key=value pairs, comma-separated or
// repeated, as kubectl's map flag.
type labelMap struct {
	m   map[string]string
	set bool
}

func (l *labelMap) String() string {
	pairs := make([]string, 0, len(l.m))
	for k, v := range l.m {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

func (l *labelMap) Set(value string) error {
	if !l.set || l.m == nil {
		l.m, l.set = map[string]string{}, true
	}
	for _, pair := range strings.Split(value, ",") {
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return errors.New("malformed pair, expect string=string")
		}
		l.m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return nil
}

func (l *labelMap) Type() string { return "mapStringString" }

func newCreateClusterRole(env *cmdenv.Env) *cobra.Command {
	var w creator.Flags
	var f ruleFlags
	var aggregation labelMap
	cmd := &cobra.Command{
		Use:                   "clusterrole NAME --verb=verb --resource=resource.group [--resource-name=resourcename] [--dry-run=server|client|none]",
		DisableFlagsInUseLine: true,
		Short:                 "Create a cluster role",
		Long:                  "Create a cluster role.",
		Example: helptext.Examples(`
# Create a cluster role named "pod-reader" that allows user to perform "get", "watch" and "list" on pods
ctl create clusterrole pod-reader --verb=get,list,watch --resource=pods

# Create a cluster role named "pod-reader" with ResourceName specified
ctl create clusterrole pod-reader --verb=get --resource=pods --resource-name=readablepod --resource-name=anotherpod

# Create a cluster role named "foo" with API Group specified
ctl create clusterrole foo --verb=get,list,watch --resource=rs.apps

# Create a cluster role named "foo" with SubResource specified
ctl create clusterrole foo --verb=get,list,watch --resource=pods,pods/status

# Create a cluster role name "foo" with NonResourceURL specified
ctl create clusterrole "foo" --verb=get --non-resource-url=/logs/*

# Create a cluster role name "monitoring" with AggregationRule specified
ctl create clusterrole monitoring --aggregation-rule="rbac.example.com/aggregate-to-monitoring=true"`),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			c, err := creator.New(env, &w)
			if err != nil {
				return err
			}
			r := f.parse()
			if err := r.validateClusterRole(env.ErrOut, aggregation.m, env.Clients.Mapper); err != nil {
				return bareNoMatch(env, err)
			}
			role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}}
			if len(aggregation.m) > 0 {
				role.AggregationRule = &rbacv1.AggregationRule{
					ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: aggregation.m}},
				}
				return c.CreateTyped(cmd.Context(), role, "", "created")
			}
			mapper, err := env.Clients.Mapper()
			if err != nil {
				return err
			}
			role.Rules = r.policyRules(mapper)
			return c.CreateTyped(cmd.Context(), role, "", "created")
		},
	}
	f.add(cmd)
	cmd.Flags().StringSliceVar(&f.nonResourceURLs, "non-resource-url", nil, "A partial url that user should have access to.")
	cmd.Flags().Var(&aggregation, "aggregation-rule", "An aggregation label selector for combining ClusterRoles.")
	w.Add(cmd)
	return cmd
}

// subjectFlags are the --user, --group and --serviceaccount flags of
// the binding commands.
type subjectFlags struct {
	users, groups, serviceAccounts []string
}

func (f *subjectFlags) add(cmd *cobra.Command, what string) {
	cmd.Flags().StringArrayVar(&f.users, "user", nil, "Usernames to bind to the "+what+". The flag can be repeated to add multiple users.")
	cmd.Flags().StringArrayVar(&f.groups, "group", nil, "Groups to bind to the "+what+". The flag can be repeated to add multiple groups.")
	cmd.Flags().StringArrayVar(&f.serviceAccounts, "serviceaccount", nil, "Service accounts to bind to the "+what+", in the format <namespace>:<name>. The flag can be repeated to add multiple service accounts.")
}

// subjects are the binding's subjects: users, then groups, then service
// accounts, each in the order given.
func (f *subjectFlags) subjects() ([]rbacv1.Subject, error) {
	var out []rbacv1.Subject
	for _, u := range f.users {
		out = append(out, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u})
	}
	for _, g := range f.groups {
		out = append(out, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g})
	}
	for _, sa := range f.serviceAccounts {
		parts := strings.Split(sa, ":")
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			return nil, errors.New("serviceaccount must be <namespace>:<name>")
		}
		out = append(out, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: parts[0], Name: parts[1]})
	}
	return out, nil
}

// roleRef is a binding's reference: to the Role when role is set, else
// to the ClusterRole.
func roleRef(role, clusterRole string) rbacv1.RoleRef {
	if role != "" {
		return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role}
	}
	return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole}
}

func newCreateRoleBinding(env *cmdenv.Env) *cobra.Command {
	var w creator.Flags
	var subjects subjectFlags
	var role, clusterRole string
	cmd := &cobra.Command{
		Use:                   "rolebinding NAME --clusterrole=NAME|--role=NAME [--user=username] [--group=groupname] [--serviceaccount=namespace:serviceaccountname] [--dry-run=server|client|none]",
		DisableFlagsInUseLine: true,
		Short:                 "Create a role binding for a particular role or cluster role",
		Long:                  "Create a role binding for a particular role or cluster role.",
		Example: helptext.Examples(`
# Create a role binding for user1, user2, and group1 using the admin cluster role
ctl create rolebinding admin --clusterrole=admin --user=user1 --user=user2 --group=group1

# Create a role binding for service account monitoring:sa-dev using the admin role
ctl create rolebinding admin-binding --role=admin --serviceaccount=monitoring:sa-dev`),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			c, err := creator.New(env, &w)
			if err != nil {
				return err
			}
			if (role == "") == (clusterRole == "") {
				return errors.New("exactly one of clusterrole or role must be specified")
			}
			subs, err := subjects.subjects()
			if err != nil {
				return err
			}
			ns, _, err := env.Namespace()
			if err != nil {
				return err
			}
			b := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: roleRef(role, clusterRole), Subjects: subs}
			if err := c.CreateTyped(cmd.Context(), b, ns, "created"); err != nil {
				return fmt.Errorf("failed to create rolebinding: %v", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&clusterRole, "clusterrole", "", "ClusterRole this RoleBinding should reference")
	cmd.Flags().StringVar(&role, "role", "", "Role this RoleBinding should reference")
	subjects.add(cmd, "role")
	w.Add(cmd)
	return cmd
}

func newCreateClusterRoleBinding(env *cmdenv.Env) *cobra.Command {
	var w creator.Flags
	var subjects subjectFlags
	var clusterRole string
	cmd := &cobra.Command{
		Use:                   "clusterrolebinding NAME --clusterrole=NAME [--user=username] [--group=groupname] [--serviceaccount=namespace:serviceaccountname] [--dry-run=server|client|none]",
		DisableFlagsInUseLine: true,
		Short:                 "Create a cluster role binding for a particular cluster role",
		Long:                  "Create a cluster role binding for a particular cluster role.",
		Example: helptext.Examples(`
# Create a cluster role binding for user1, user2, and group1 using the cluster-admin cluster role
ctl create clusterrolebinding cluster-admin --clusterrole=cluster-admin --user=user1 --user=user2 --group=group1`),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			c, err := creator.New(env, &w)
			if err != nil {
				return err
			}
			subs, err := subjects.subjects()
			if err != nil {
				return err
			}
			b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: roleRef("", clusterRole), Subjects: subs}
			if err := c.CreateTyped(cmd.Context(), b, "", "created"); err != nil {
				return fmt.Errorf("failed to create clusterrolebinding: %v", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&clusterRole, "clusterrole", "", "ClusterRole this ClusterRoleBinding should reference")
	_ = cmd.MarkFlagRequired("clusterrole")
	subjects.add(cmd, "clusterrole")
	w.Add(cmd)
	return cmd
}
