package authz

import (
	"context"
	"errors"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"

	"coracle.dev/apiserver/internal/authn"
)

// Chain asks each authorizer in turn, as kube-apiserver's
// --authorization-mode list: the first that allows or denies decides;
// when none does, the request is refused with their reasons joined, and
// errors only matter if nobody allowed.
type Chain []Authorizer

var _ Authorizer = Chain(nil)

// Authorize implements Authorizer.
func (c Chain) Authorize(ctx context.Context, a Attributes) (Decision, string, error) {
	var reasons []string
	var errs []error
	for _, z := range c {
		d, reason, err := z.Authorize(ctx, a)
		if err != nil {
			errs = append(errs, err)
		}
		if reason != "" {
			reasons = append(reasons, reason)
		}
		switch d {
		case DecisionAllow, DecisionDeny:
			return d, reason, err
		}
	}
	return DecisionNoOpinion, strings.Join(reasons, "\n"), errors.Join(errs...)
}

// SystemPrivilegedGroup may do anything, whatever the other authorizers
// say: admin.conf's group, as Kubernetes' user.SystemPrivilegedGroup.
const SystemPrivilegedGroup = "system:masters"

// PrivilegedGroups allows every request of a member of one of its groups,
// as kube-apiserver's authorizer for system:masters, which it puts first.
type PrivilegedGroups []string

// Authorize implements Authorizer.
func (p PrivilegedGroups) Authorize(_ context.Context, a Attributes) (Decision, string, error) {
	if a.User != nil {
		for _, g := range p {
			if a.User.InGroup(g) {
				return DecisionAllow, "", nil
			}
		}
	}
	return DecisionNoOpinion, "", nil
}

// AlwaysAllow is --authorization-mode=AlwaysAllow.
type AlwaysAllow struct{}

// Authorize implements Authorizer.
func (AlwaysAllow) Authorize(context.Context, Attributes) (Decision, string, error) {
	return DecisionAllow, "", nil
}

// RuleResolver lists what a user may do in a namespace, for
// SelfSubjectRulesReview: resource and non-resource rules, incomplete
// when the list may miss some (an authorizer that cannot enumerate, or
// an error reading roles).
type RuleResolver interface {
	RulesFor(ctx context.Context, user *authn.User, namespace string) (resource []authorizationv1.ResourceRule, nonResource []authorizationv1.NonResourceRule, incomplete bool, err error)
}
