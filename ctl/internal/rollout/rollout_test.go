package rollout

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestDeploymentStatus(t *testing.T) {
	d := func(gen, observed int64, spec int32, s appsv1.DeploymentStatus) *appsv1.Deployment {
		s.ObservedGeneration = observed
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: gen}, Spec: appsv1.DeploymentSpec{Replicas: &spec}, Status: s}
	}
	deadline := []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}}
	cases := []struct {
		name     string
		d        *appsv1.Deployment
		wantMsg  string
		wantDone bool
		wantErr  string
	}{
		{"spec not yet observed", d(2, 1, 3, appsv1.DeploymentStatus{}), "Waiting for deployment spec update to be observed...", false, ""},
		{"new replicas being updated", d(1, 1, 3, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 1}), `Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...`, false, ""},
		{"old replicas terminating", d(1, 1, 3, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 3}), `Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...`, false, ""},
		{"updated replicas becoming available", d(1, 1, 3, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2}), `Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...`, false, ""},
		{"complete", d(1, 1, 3, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}), `deployment "web" successfully rolled out`, true, ""},
		{"progress deadline exceeded", d(1, 1, 3, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 1, Conditions: deadline}), "", false, `deployment "web" exceeded its progress deadline`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, done, err := DeploymentStatus(tc.d)
			if msg != tc.wantMsg || done != tc.wantDone || fmt.Sprint(err) != map[bool]string{true: "<nil>", false: tc.wantErr}[tc.wantErr == ""] {
				t.Errorf("got %q %v %v; want %q %v %q", msg, done, err, tc.wantMsg, tc.wantDone, tc.wantErr)
			}
		})
	}
}

func rs(name, rev, image, cause string) appsv1.ReplicaSet {
	r := appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{RevisionAnnotation: rev}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](1), Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", PodTemplateHashLabel: name}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}}}}}
	if cause != "" {
		r.Annotations[ChangeCauseAnnotation] = cause
	}
	return r
}

func TestUndoTarget(t *testing.T) {
	rss := []appsv1.ReplicaSet{rs("a", "1", "v1", ""), rs("c", "3", "v3", ""), rs("b", "2", "v2", "")}
	cases := []struct {
		name    string
		to      int64
		want    string
		wantErr string
	}{
		{"the revision before the newest by default", 0, "b", ""},
		{"a chosen revision", 1, "a", ""},
		{"a revision not in history", 7, "", "unable to find specified revision 7 in history"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := UndoTarget(rss, tc.to)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got.Name != tc.want {
				t.Fatalf("got %v %v, want %s", got, err, tc.want)
			}
		})
	}
	if _, err := UndoTarget(rss[:1], 0); err == nil {
		t.Error("undo with one revision found a target")
	}
}

func TestSameTemplateIgnoresTheHashLabel(t *testing.T) {
	a, b := rs("a", "1", "v1", ""), rs("b", "2", "v1", "")
	if !SameTemplate(&a.Spec.Template, &b.Spec.Template) {
		t.Error("templates differing only in pod-template-hash are not the same")
	}
	c := rs("c", "3", "v2", "")
	if SameTemplate(&a.Spec.Template, &c.Spec.Template) {
		t.Error("templates with different images are the same")
	}
}

func TestHistory(t *testing.T) {
	rss := []appsv1.ReplicaSet{rs("b", "2", "v2", "kubectl set image deployment/web web=v2"), rs("a", "1", "v1", "")}
	var b bytes.Buffer
	if err := History(&b, "deployment.apps/web", rss, 0, nil); err != nil {
		t.Fatal(err)
	}
	want := "deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         <none>\n2         kubectl set image deployment/web web=v2\n\n"
	if b.String() != want {
		t.Errorf("got:\n%q\nwant:\n%q", b.String(), want)
	}
	b.Reset()
	printed := ""
	err := History(&b, "deployment.apps/web", rss, 2, func(w io.Writer, t *corev1.PodTemplateSpec) error {
		printed = t.Spec.Containers[0].Image + fmt.Sprint(t.Labels)
		return nil
	})
	if err != nil || b.String() != "deployment.apps/web with revision #2\n" || printed != "v2map[app:web]" {
		t.Errorf("revision 2: %q %q %v", b.String(), printed, err)
	}
}
