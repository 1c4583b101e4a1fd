package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// DeploymentStatus is the pure part of `rollout status`: what to say
// about d now, whether the rollout is complete, and an error once its
// progress deadline is exceeded.
func DeploymentStatus(d *appsv1.Deployment) (msg string, done bool, err error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "Waiting for deployment spec update to be observed...", false, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", d.Name)
		}
	}
	s := d.Status
	if d.Spec.Replicas != nil && s.UpdatedReplicas < *d.Spec.Replicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...", d.Name, s.UpdatedReplicas, *d.Spec.Replicas), false, nil
	}
	if s.Replicas > s.UpdatedReplicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...", d.Name, s.Replicas-s.UpdatedReplicas), false, nil
	}
	if s.AvailableReplicas < s.UpdatedReplicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...", d.Name, s.AvailableReplicas, s.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out", d.Name), true, nil
}

// StatefulSetStatus is `rollout status` for a StatefulSet.
func StatefulSetStatus(s *appsv1.StatefulSet) (string, bool, error) {
	if s.Status.ObservedGeneration == 0 || s.Generation > s.Status.ObservedGeneration {
		return "Waiting for statefulset spec update to be observed...", false, nil
	}
	if s.Spec.Replicas != nil && s.Status.ReadyReplicas < *s.Spec.Replicas {
		return fmt.Sprintf("Waiting for %d pods to be ready...", *s.Spec.Replicas-s.Status.ReadyReplicas), false, nil
	}
	if s.Status.UpdateRevision != s.Status.CurrentRevision {
		return fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s...", s.Status.UpdatedReplicas, s.Status.UpdateRevision), false, nil
	}
	return fmt.Sprintf("statefulset rolling update complete %d pods at revision %s...", s.Status.CurrentReplicas, s.Status.CurrentRevision), true, nil
}

// DaemonSetStatus is `rollout status` for a DaemonSet.
func DaemonSetStatus(d *appsv1.DaemonSet) (string, bool, error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "Waiting for daemon set spec update to be observed...", false, nil
	}
	if d.Status.UpdatedNumberScheduled < d.Status.DesiredNumberScheduled {
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated...", d.Name, d.Status.UpdatedNumberScheduled, d.Status.DesiredNumberScheduled), false, nil
	}
	if d.Status.NumberAvailable < d.Status.DesiredNumberScheduled {
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d of %d updated pods are available...", d.Name, d.Status.NumberAvailable, d.Status.DesiredNumberScheduled), false, nil
	}
	return fmt.Sprintf("daemon set %q successfully rolled out", d.Name), true, nil
}

// History writes the revision table of a Deployment, or one revision's
// pod template.
func History(out io.Writer, ref string, rss []appsv1.ReplicaSet, revision int64, template func(io.Writer, *corev1.PodTemplateSpec) error) error {
	if revision > 0 {
		for i := range rss {
			if Revision(&rss[i]) == revision {
				fmt.Fprintf(out, "%s with revision #%d\n", ref, revision)
				t := rss[i].Spec.Template.DeepCopy()
				delete(t.Labels, PodTemplateHashLabel)
				return template(out, t)
			}
		}
		return fmt.Errorf("unable to find the specified revision")
	}
	type entry struct {
		rev   int64
		cause string
	}
	var entries []entry
	for i := range rss {
		rev := Revision(&rss[i])
		if rev == 0 {
			continue
		}
		cause := rss[i].Annotations[ChangeCauseAnnotation]
		if cause == "" {
			cause = "<none>"
		}
		entries = append(entries, entry{rev, cause})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].rev < entries[j].rev })
	fmt.Fprintf(out, "%s \n", ref)
	fmt.Fprintf(out, "%-10s%s\n", "REVISION", "CHANGE-CAUSE")
	for _, e := range entries {
		fmt.Fprintf(out, "%-10s%s\n", strconv.FormatInt(e.rev, 10), e.cause)
	}
	fmt.Fprintln(out)
	return nil
}

// ErrSkipped says an undo changed nothing: the Deployment already runs the
// chosen revision's template.
type ErrSkipped struct{ Revision int64 }

func (e *ErrSkipped) Error() string {
	return fmt.Sprintf("skipped rollback (current template already matches revision %d)", e.Revision)
}

// UndoTarget picks the ReplicaSet of toRevision, or of the revision before
// the current one when toRevision is 0.
func UndoTarget(rss []appsv1.ReplicaSet, toRevision int64) (*appsv1.ReplicaSet, error) {
	if toRevision > 0 {
		for i := range rss {
			if Revision(&rss[i]) == toRevision {
				return &rss[i], nil
			}
		}
		return nil, fmt.Errorf("unable to find specified revision %d in history", toRevision)
	}
	var cur, prev *appsv1.ReplicaSet
	for i := range rss {
		rs := &rss[i]
		switch {
		case cur == nil || Revision(rs) > Revision(cur):
			prev, cur = cur, rs
		case prev == nil || Revision(rs) > Revision(prev):
			prev = rs
		}
	}
	if prev == nil || Revision(prev) == 0 {
		return nil, fmt.Errorf("no rollout history found for deployment")
	}
	return prev, nil
}

// Undo copies the pod template of a revision's ReplicaSet back into the
// Deployment, as kubectl does; the Deployment controller then rolls it
// out as the next revision.
func Undo(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment, toRevision int64) error {
	if d.Spec.Paused {
		return fmt.Errorf("you cannot rollback a paused deployment; resume it first with 'ctl rollout resume' and try again")
	}
	rss, err := ReplicaSets(ctx, client, d)
	if err != nil {
		return err
	}
	target, err := UndoTarget(rss, toRevision)
	if err != nil {
		return err
	}
	if SameTemplate(&target.Spec.Template, &d.Spec.Template) {
		return &ErrSkipped{Revision: Revision(target)}
	}
	tmpl := target.Spec.Template.DeepCopy()
	delete(tmpl.Labels, PodTemplateHashLabel)
	annotations := map[string]string{}
	for k, v := range d.Annotations {
		annotations[k] = v
	}
	// The change cause travels with the template it describes.
	if cause, ok := target.Annotations[ChangeCauseAnnotation]; ok {
		annotations[ChangeCauseAnnotation] = cause
	} else {
		delete(annotations, ChangeCauseAnnotation)
	}
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": "/metadata/resourceVersion", "value": d.ResourceVersion},
		{"op": "replace", "path": "/spec/template", "value": tmpl},
		{"op": "replace", "path": "/metadata/annotations", "value": annotations},
	})
	if err != nil {
		return err
	}
	_, err = client.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: "ctl-rollout"})
	return err
}

// RestartPatch stamps a pod template so the controller replaces every pod.
func RestartPatch(now time.Time) []byte {
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{RestartedAtAnnotation: now.Format(time.RFC3339)}},
	}}})
	return patch
}
