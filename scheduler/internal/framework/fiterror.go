package framework

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// ErrNoNodesAvailable is returned when the cluster has no node at all.
var ErrNoNodesAvailable = errors.New("no nodes available to schedule pods")

// Diagnosis records why a pod fit no node.
type Diagnosis struct {
	// NodeToStatus is each rejected node's status.
	NodeToStatus map[string]*Status
	// UnschedulablePlugins name the plugins that rejected some node; the
	// queue retries the pod on the events they registered.
	UnschedulablePlugins map[string]bool
	// PreFilterMsg is set when a PreFilter rejected the pod outright.
	PreFilterMsg string
	// PostFilterMsg is preemption's account of why it did not help.
	PostFilterMsg string
}

// FitError says that a pod fits no node, in the words Kubernetes uses:
// "0/3 nodes are available: 1 node(s) had untolerated taint {...}, 2
// Insufficient cpu." followed by preemption's own account.
type FitError struct {
	Pod         *v1.Pod
	NumAllNodes int
	Diagnosis   Diagnosis
}

// Error implements error.
func (f *FitError) Error() string {
	if f.NumAllNodes == 0 {
		return ErrNoNodesAvailable.Error()
	}
	msg := fmt.Sprintf("0/%d nodes are available:", f.NumAllNodes)
	if f.Diagnosis.PreFilterMsg != "" {
		msg += " " + f.Diagnosis.PreFilterMsg + "."
	} else if h := ReasonHistogram(f.Diagnosis.NodeToStatus); h != "" {
		msg += " " + h + "."
	}
	if f.Diagnosis.PostFilterMsg != "" {
		msg += " " + f.Diagnosis.PostFilterMsg + "."
	}
	return msg
}

// ReasonHistogram counts the nodes per reason and lists "N reason" sorted,
// as Kubernetes does ("1 node(s) were unschedulable, 2 Insufficient cpu").
func ReasonHistogram(statuses map[string]*Status) string {
	counts := map[string]int{}
	for _, s := range statuses {
		for _, r := range s.Reasons() {
			counts[r]++
		}
	}
	parts := make([]string, 0, len(counts))
	for r, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
