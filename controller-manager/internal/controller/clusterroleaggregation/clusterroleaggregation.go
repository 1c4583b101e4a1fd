// Package clusterroleaggregation is the ClusterRole aggregation
// controller: a ClusterRole with an aggregationRule holds, as its rules,
// the rules of every other ClusterRole one of its clusterRoleSelectors
// matches, kept up to date as those roles come, change and go. That is
// how Kubernetes' admin, edit and view roles grow the rules of roles
// labelled rbac.authorization.k8s.io/aggregate-to-<role>: "true".
//
// As Kubernetes' controller (pkg/controller/clusterroleaggregation), any
// change to any ClusterRole queues every aggregated role again: the roles
// are few, and which role feeds which is a label query, not a graph the
// controller could keep.
package clusterroleaggregation

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.uber.org/zap"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"

	"coracle.dev/controller-manager/internal/controller"
)

// Name is the controller's name, Kubernetes' own; it is also the field
// manager of the rules it writes.
const Name = "clusterrole-aggregation-controller"

// GroupVersion is the API the controller needs.
const GroupVersion = "rbac.authorization.k8s.io/v1"

// Plan is what to do with one aggregated ClusterRole.
type Plan struct {
	// Update is true when the role's rules are not Rules.
	Update bool
	// Rules are the role's rules as they must be.
	Rules []rbacv1.PolicyRule
}

// Decide is the pure part: the rules of role, which has an
// aggregationRule, given every ClusterRole there is. Each selector in
// turn, the roles it matches, by name, the role itself skipped, add
// their rules in order, each once: the same order as Kubernetes', so the
// two write the same rules and a cluster moved from one to the other
// sees no change. An invalid selector is an error: the role is left as
// it is.
func Decide(role *rbacv1.ClusterRole, all []*rbacv1.ClusterRole) (Plan, error) {
	rules := []rbacv1.PolicyRule{}
	byName := slices.Clone(all)
	slices.SortFunc(byName, func(a, b *rbacv1.ClusterRole) int { return strings.Compare(a.Name, b.Name) })
	for i := range role.AggregationRule.ClusterRoleSelectors {
		sel, err := metav1.LabelSelectorAsSelector(&role.AggregationRule.ClusterRoleSelectors[i])
		if err != nil {
			return Plan{}, fmt.Errorf("clusterrole %s: aggregationRule.clusterRoleSelectors[%d]: %w", role.Name, i, err)
		}
		for _, r := range byName {
			if r.Name == role.Name || !sel.Matches(labels.Set(r.Labels)) {
				continue
			}
			for _, rule := range r.Rules {
				if !slices.ContainsFunc(rules, func(have rbacv1.PolicyRule) bool { return equality.Semantic.DeepEqual(have, rule) }) {
					rules = append(rules, rule)
				}
			}
		}
	}
	// Semantic equality holds an empty list equal to none: a role that
	// aggregates nothing and has no rules is left alone.
	return Plan{Update: !equality.Semantic.DeepEqual(rules, role.Rules), Rules: rules}, nil
}

// Controller keeps aggregated ClusterRoles' rules.
type Controller struct {
	*controller.Base
	client kubernetes.Interface
	roles  rbaclisters.ClusterRoleLister
	log    *zap.Logger
}

// New builds the controller; nil when the apiserver does not serve RBAC,
// which leaves the controller nothing to aggregate.
func New(c controller.Context) (controller.Runner, error) {
	if !controller.Served(c.Discovery, GroupVersion) {
		c.Log.Warn("apiserver does not serve " + GroupVersion + ": ClusterRole aggregation off")
		return nil, nil
	}
	inf := c.Informers.Rbac().V1().ClusterRoles()
	ctl := &Controller{client: c.Client, roles: inf.Lister(), log: c.Log}
	ctl.Base = controller.NewBase(c, ctl.sync)
	return ctl, ctl.Watch(inf.Informer(), controller.OnAll(func(*rbacv1.ClusterRole) { ctl.enqueueAggregated() }))
}

// enqueueAggregated queues every ClusterRole with an aggregationRule:
// whichever role changed, any of them may select it.
func (c *Controller) enqueueAggregated() {
	all, err := c.roles.List(labels.Everything())
	if err != nil {
		c.log.Error("list cluster roles", zap.Error(err))
		return
	}
	for _, r := range all {
		if r.AggregationRule != nil {
			c.Enqueue(r.Name)
		}
	}
}

func (c *Controller) sync(ctx context.Context, name string) error {
	role, err := c.roles.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if role.AggregationRule == nil {
		return nil
	}
	all, err := c.roles.List(labels.Everything())
	if err != nil {
		return err
	}
	plan, err := Decide(role, all)
	if err != nil {
		return err
	}
	if !plan.Update {
		return nil
	}
	// An update of the cached version: should the role have changed
	// since, the conflict requeues it and the next sync sees the change.
	role = role.DeepCopy()
	role.Rules = plan.Rules
	if _, err := c.client.RbacV1().ClusterRoles().Update(ctx, role, metav1.UpdateOptions{FieldManager: Name}); err != nil {
		return fmt.Errorf("update aggregated clusterrole %s: %w", name, err)
	}
	c.log.Info("aggregated cluster role rules", zap.String("clusterrole", name), zap.Int("rules", len(plan.Rules)))
	return nil
}
