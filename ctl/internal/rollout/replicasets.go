// Package rollout reads and steers Deployment rollouts the way kubectl
// does: a Deployment's ReplicaSets carry the revision annotation and the
// pod-template-hash label; history lists them, undo copies a chosen
// revision's pod template back into the Deployment, restart stamps the
// template with a restartedAt annotation, and status follows the
// Deployment's status until the rollout is complete or its progress
// deadline passes.
package rollout

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Annotations and labels of the Deployment controller, as in Kubernetes.
const (
	RevisionAnnotation    = "deployment.kubernetes.io/revision"
	ChangeCauseAnnotation = "kubernetes.io/change-cause"
	RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
	PodTemplateHashLabel  = appsv1.DefaultDeploymentUniqueLabelKey
)

// Revision is a ReplicaSet's revision number, 0 when it has none.
func Revision(obj metav1.Object) int64 {
	v, err := strconv.ParseInt(obj.GetAnnotations()[RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// ReplicaSets lists the ReplicaSets d controls, oldest revision first.
func ReplicaSets(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment) ([]appsv1.ReplicaSet, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s: invalid selector: %w", d.Name, err)
	}
	list, err := client.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	var out []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == d.UID {
			out = append(out, rs)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return Revision(&out[i]) < Revision(&out[j]) })
	return out, nil
}

// SameTemplate reports whether a ReplicaSet's template is the
// Deployment's, ignoring the pod-template-hash label the controller adds.
func SameTemplate(rsTemplate, dTemplate *corev1.PodTemplateSpec) bool {
	a, b := rsTemplate.DeepCopy(), dTemplate.DeepCopy()
	delete(a.Labels, PodTemplateHashLabel)
	delete(b.Labels, PodTemplateHashLabel)
	return apiequality.Semantic.DeepEqual(a, b)
}

// Split separates the ReplicaSet running d's current template from the
// others; current is nil when the controller has not made it yet.
func Split(d *appsv1.Deployment, rss []appsv1.ReplicaSet) (current *appsv1.ReplicaSet, old []appsv1.ReplicaSet) {
	for i := range rss {
		if current == nil && SameTemplate(&rss[i].Spec.Template, &d.Spec.Template) {
			current = &rss[i]
			continue
		}
		old = append(old, rss[i])
	}
	return current, old
}
