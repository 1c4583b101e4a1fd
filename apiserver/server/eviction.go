package server

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/eviction"
	"coracle.dev/apiserver/internal/genericstore"
)

// evictor carries out pods/eviction on the server's stores: each write
// goes through the generic store with the request's context, so that the
// pods' admission (NodeRestriction for a kubelet evicting) judges the
// status write and the delete as it judges any other.
func (s *Server) evictor() *eviction.Evictor {
	return &eviction.Evictor{
		Pods:    evictionPods{s.store("", "pods")},
		Budgets: evictionBudgets{s.store(policyv1.GroupName, "poddisruptionbudgets")},
	}
}

type evictionPods struct{ st *genericstore.Store }

var _ eviction.Pods = evictionPods{}

// Get reads the pod from etcd: an eviction judges the pod as it is now.
func (p evictionPods) Get(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	obj, err := p.st.Get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Pod), nil
}

// UpdateStatus hands change each fresh read of the pod: with no
// resourceVersion pinned, the store retries a lost race itself, and
// change, which checks the eviction's preconditions, judges the pod
// that is written.
func (p evictionPods) UpdateStatus(ctx context.Context, namespace, name string, change func(*corev1.Pod) error) (*corev1.Pod, error) {
	res, err := p.st.Update(ctx, namespace, name, func(current runtime.Object) (runtime.Object, error) {
		if current == nil {
			return nil, apierrors.NewNotFound(p.st.Descriptor().GroupResource(), name)
		}
		pod := current.(*corev1.Pod)
		if err := change(pod); err != nil {
			return nil, err
		}
		pod.ResourceVersion = ""
		return pod, nil
	}, genericstore.UpdateOptions{Subresource: apiresource.Status})
	if err != nil {
		return nil, err
	}
	return res.Object.(*corev1.Pod), nil
}

func (p evictionPods) Delete(ctx context.Context, namespace, name string, opts *metav1.DeleteOptions) error {
	_, err := p.st.Delete(ctx, namespace, name, opts, len(opts.DryRun) > 0)
	return err
}

type evictionBudgets struct{ st *genericstore.Store }

var _ eviction.Budgets = evictionBudgets{}

func (b evictionBudgets) List(ctx context.Context, namespace string) ([]*policyv1.PodDisruptionBudget, error) {
	obj, err := b.st.List(ctx, genericstore.ListOptions{Namespace: namespace, Label: labels.Everything(), Field: fields.Everything()})
	if err != nil {
		return nil, err
	}
	list := obj.(*policyv1.PodDisruptionBudgetList)
	out := make([]*policyv1.PodDisruptionBudget, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

func (b evictionBudgets) Get(ctx context.Context, namespace, name string) (*policyv1.PodDisruptionBudget, error) {
	obj, err := b.st.Get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return obj.(*policyv1.PodDisruptionBudget), nil
}

// UpdateStatus writes through the status subresource with pdb's
// resourceVersion pinned: a budget changed since it was read is a
// Conflict, and the eviction reads it again and judges afresh.
func (b evictionBudgets) UpdateStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget) error {
	_, err := b.st.Update(ctx, pdb.Namespace, pdb.Name, func(current runtime.Object) (runtime.Object, error) {
		if current == nil {
			return nil, apierrors.NewNotFound(b.st.Descriptor().GroupResource(), pdb.Name)
		}
		return pdb.DeepCopy(), nil
	}, genericstore.UpdateOptions{Subresource: apiresource.Status})
	return err
}
