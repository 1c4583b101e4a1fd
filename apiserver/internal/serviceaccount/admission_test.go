package serviceaccount

import (
	"context"
	"reflect"
	"regexp"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// accounts is an in-memory account getter that counts its lookups.
type accounts struct {
	mu    sync.Mutex // guards sas and calls
	sas   map[string]*corev1.ServiceAccount
	calls int
	// appearAfter, when set, makes default/default exist from that call on.
	appearAfter int
}

func (a *accounts) get(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	if a.appearAfter > 0 && a.calls >= a.appearAfter {
		return &corev1.ServiceAccount{ObjectMeta: meta(ns, name, "late")}, nil
	}
	if sa, ok := a.sas[ns+"/"+name]; ok {
		return sa.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("serviceaccounts"), name)
}

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init"}},
			Containers:     []corev1.Container{{Name: "a"}, {Name: "b"}},
		},
	}
}

var volumeName = regexp.MustCompile(`^kube-api-access-[a-z0-9]{5}$`)

func TestAdmission(t *testing.T) {
	tokenMount := func(name string) corev1.VolumeMount {
		return corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: DefaultAPITokenMountPath}
	}
	tests := []struct {
		name    string
		sas     []*corev1.ServiceAccount
		pod     func(*corev1.Pod)
		check   func(t *testing.T, pod *corev1.Pod)
		message string // of a Forbidden error
	}{
		{
			name: "default account, token in every container",
			sas:  []*corev1.ServiceAccount{{ObjectMeta: meta("ns", "default", "u")}},
			check: func(t *testing.T, pod *corev1.Pod) {
				if pod.Spec.ServiceAccountName != "default" || pod.Spec.DeprecatedServiceAccount != "default" { //nolint:staticcheck // checking the alias
					t.Fatalf("account %q/%q", pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount) //nolint:staticcheck // checking the alias
				}
				if len(pod.Spec.Volumes) != 1 || !volumeName.MatchString(pod.Spec.Volumes[0].Name) {
					t.Fatalf("volumes %+v", pod.Spec.Volumes)
				}
				v := pod.Spec.Volumes[0]
				if !reflect.DeepEqual(v.Projected, TokenVolumeSource()) {
					t.Fatalf("volume source %+v", v.Projected)
				}
				for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
					if !reflect.DeepEqual(c.VolumeMounts, []corev1.VolumeMount{tokenMount(v.Name)}) {
						t.Fatalf("container %s mounts %+v", c.Name, c.VolumeMounts)
					}
				}
			},
		},
		{
			name: "named account",
			sas:  []*corev1.ServiceAccount{{ObjectMeta: meta("ns", "builder", "u")}},
			pod:  func(p *corev1.Pod) { p.Spec.ServiceAccountName = "builder" },
			check: func(t *testing.T, pod *corev1.Pod) {
				if pod.Spec.ServiceAccountName != "builder" || len(pod.Spec.Volumes) != 1 {
					t.Fatalf("account %q volumes %d", pod.Spec.ServiceAccountName, len(pod.Spec.Volumes))
				}
			},
		},
		{
			name:    "missing account",
			pod:     func(p *corev1.Pod) { p.Spec.ServiceAccountName = "builder" },
			message: `pods "p" is forbidden: error looking up service account ns/builder: serviceaccount "builder" not found`,
		},
		{
			name: "pod opts out",
			sas:  []*corev1.ServiceAccount{{ObjectMeta: meta("ns", "default", "u")}},
			pod:  func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = ptr.To(false) },
			check: func(t *testing.T, pod *corev1.Pod) {
				if len(pod.Spec.Volumes) != 0 || len(pod.Spec.Containers[0].VolumeMounts) != 0 {
					t.Fatalf("token mounted: %+v", pod.Spec)
				}
			},
		},
		{
			name: "account opts out",
			sas:  []*corev1.ServiceAccount{{ObjectMeta: meta("ns", "default", "u"), AutomountServiceAccountToken: ptr.To(false)}},
			check: func(t *testing.T, pod *corev1.Pod) {
				if len(pod.Spec.Volumes) != 0 {
					t.Fatalf("token mounted: %+v", pod.Spec.Volumes)
				}
			},
		},
		{
			name: "pod opts in over its account",
			sas:  []*corev1.ServiceAccount{{ObjectMeta: meta("ns", "default", "u"), AutomountServiceAccountToken: ptr.To(false)}},
			pod:  func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = ptr.To(true) },
			check: func(t *testing.T, pod *corev1.Pod) {
				if len(pod.Spec.Volumes) != 1 {
					t.Fatalf("volumes %+v", pod.Spec.Volumes)
				}
			},
		},
		{
			name: "container that mounts something at the path keeps it",
			sas:  []*corev1.ServiceAccount{{ObjectMeta: meta("ns", "default", "u")}},
			pod: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "mine", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "mine", MountPath: DefaultAPITokenMountPath}}
			},
			check: func(t *testing.T, pod *corev1.Pod) {
				if got := pod.Spec.Containers[0].VolumeMounts; len(got) != 1 || got[0].Name != "mine" {
					t.Fatalf("container a mounts %+v", got)
				}
				if len(pod.Spec.Volumes) != 2 || len(pod.Spec.Containers[1].VolumeMounts) != 1 {
					t.Fatalf("volumes %+v", pod.Spec.Volumes)
				}
			},
		},
		{
			name: "no volume when every container mounts its own",
			sas:  []*corev1.ServiceAccount{{ObjectMeta: meta("ns", "default", "u")}},
			pod: func(p *corev1.Pod) {
				p.Spec.InitContainers = nil
				p.Spec.Containers = p.Spec.Containers[:1]
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "mine", MountPath: DefaultAPITokenMountPath}}
			},
			check: func(t *testing.T, pod *corev1.Pod) {
				if len(pod.Spec.Volumes) != 0 {
					t.Fatalf("volumes %+v", pod.Spec.Volumes)
				}
			},
		},
		{
			name: "existing token volume is reused",
			sas:  []*corev1.ServiceAccount{{ObjectMeta: meta("ns", "default", "u")}},
			pod: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "kube-api-access-abcde", VolumeSource: corev1.VolumeSource{Projected: TokenVolumeSource()}}}
			},
			check: func(t *testing.T, pod *corev1.Pod) {
				if len(pod.Spec.Volumes) != 1 || pod.Spec.Containers[0].VolumeMounts[0].Name != "kube-api-access-abcde" {
					t.Fatalf("volumes %+v mounts %+v", pod.Spec.Volumes, pod.Spec.Containers[0].VolumeMounts)
				}
			},
		},
		{
			name: "account's image pull secrets",
			sas: []*corev1.ServiceAccount{{ObjectMeta: meta("ns", "default", "u"),
				ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry"}}}},
			check: func(t *testing.T, pod *corev1.Pod) {
				if !reflect.DeepEqual(pod.Spec.ImagePullSecrets, []corev1.LocalObjectReference{{Name: "registry"}}) {
					t.Fatalf("pull secrets %+v", pod.Spec.ImagePullSecrets)
				}
			},
		},
		{
			name: "pod's own image pull secrets win",
			sas: []*corev1.ServiceAccount{{ObjectMeta: meta("ns", "default", "u"),
				ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry"}}}},
			pod: func(p *corev1.Pod) { p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "mine"}} },
			check: func(t *testing.T, pod *corev1.Pod) {
				if !reflect.DeepEqual(pod.Spec.ImagePullSecrets, []corev1.LocalObjectReference{{Name: "mine"}}) {
					t.Fatalf("pull secrets %+v", pod.Spec.ImagePullSecrets)
				}
			},
		},
		{
			name: "enforcing account refuses a secret it does not list",
			sas: []*corev1.ServiceAccount{{
				ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "default", Annotations: map[string]string{EnforceMountableSecretsAnnotation: "true"}},
				Secrets:    []corev1.ObjectReference{{Name: "allowed"}},
			}},
			pod: func(p *corev1.Pod) {
				p.Spec.Containers[1].Env = []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "other"}, Key: "pw"}}}}
			},
			message: `pods "p" is forbidden: container b with envVar PW referencing secret.secretName="other" is not allowed because service account default does not reference that secret`,
		},
		{
			name: "enforcing account allows a secret it lists",
			sas: []*corev1.ServiceAccount{{
				ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "default", Annotations: map[string]string{EnforceMountableSecretsAnnotation: "true"}},
				Secrets:    []corev1.ObjectReference{{Name: "allowed"}},
			}},
			pod: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "allowed"}}}}
			},
			check: func(t *testing.T, pod *corev1.Pod) {},
		},
		{
			name: "enforcing account refuses a secret volume it does not list",
			sas: []*corev1.ServiceAccount{{
				ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "default", Annotations: map[string]string{EnforceMountableSecretsAnnotation: "true"}},
			}},
			pod: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "other"}}}}
			},
			message: `pods "p" is forbidden: volume with secret.secretName="other" is not allowed because service account default does not reference that secret`,
		},
		{
			name: "mirror pod is left alone",
			pod:  func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} },
			check: func(t *testing.T, pod *corev1.Pod) {
				if pod.Spec.ServiceAccountName != "" || len(pod.Spec.Volumes) != 0 {
					t.Fatalf("mirror pod changed: %+v", pod.Spec)
				}
			},
		},
		{
			name: "mirror pod may not name an account",
			pod: func(p *corev1.Pod) {
				p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
				p.Spec.ServiceAccountName = "builder"
			},
			message: `pods "p" is forbidden: a mirror pod may not reference service accounts`,
		},
		{
			name: "mirror pod may not use secrets",
			pod: func(p *corev1.Pod) {
				p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
				p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}}
			},
			message: `pods "p" is forbidden: a mirror pod may not reference secrets`,
		},
		{
			name: "mirror pod may not project a token",
			pod: func(p *corev1.Pod) {
				p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
				p.Spec.Volumes = []corev1.Volume{{Name: "t", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "t"}}}}}}}
			},
			message: `pods "p" is forbidden: a mirror pod may not use ServiceAccountToken volume projections`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			accts := &accounts{sas: map[string]*corev1.ServiceAccount{}}
			for _, sa := range tt.sas {
				accts.sas[sa.Namespace+"/"+sa.Name] = sa
			}
			pod := testPod()
			if tt.pod != nil {
				tt.pod(pod)
			}
			adm := &Admission{Get: accts.get, RetryInterval: time.Millisecond}
			err := adm.AdmitCreate(context.Background(), pod)
			if tt.message != "" {
				if !apierrors.IsForbidden(err) || err.Error() != tt.message {
					t.Fatalf("err = %v\nwant Forbidden %q", err, tt.message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, pod)
		})
	}
}

func TestAdmissionWaitsForTheDefaultAccount(t *testing.T) {
	accts := &accounts{appearAfter: 3}
	pod := testPod()
	if err := (&Admission{Get: accts.get, RetryInterval: time.Millisecond}).AdmitCreate(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if accts.calls != 3 || len(pod.Spec.Volumes) != 1 {
		t.Fatalf("%d lookups, volumes %+v", accts.calls, pod.Spec.Volumes)
	}

	// A missing default account is looked for ten times, then refused.
	accts = &accounts{}
	err := (&Admission{Get: accts.get, RetryInterval: time.Millisecond}).AdmitCreate(context.Background(), testPod())
	if !apierrors.IsForbidden(err) || accts.calls != 10 {
		t.Fatalf("err %v after %d lookups", err, accts.calls)
	}
	if want := `pods "p" is forbidden: error looking up service account ns/default: serviceaccount "default" not found`; err.Error() != want {
		t.Fatalf("err %q\nwant %q", err, want)
	}

	// Another account is looked for once.
	accts = &accounts{}
	pod = testPod()
	pod.Spec.ServiceAccountName = "builder"
	_ = (&Admission{Get: accts.get, RetryInterval: time.Millisecond}).AdmitCreate(context.Background(), pod)
	if accts.calls != 1 {
		t.Fatalf("%d lookups of a named account", accts.calls)
	}
}

func TestAdmitEphemeralContainers(t *testing.T) {
	sa := &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "default", Annotations: map[string]string{EnforceMountableSecretsAnnotation: "true"}},
		Secrets:    []corev1.ObjectReference{{Name: "allowed"}},
	}
	adm := &Admission{Get: (&accounts{sas: map[string]*corev1.ServiceAccount{"ns/default": sa}}).get}
	pod := testPod()
	pod.Spec.ServiceAccountName = "default"
	envFrom := func(name string) []corev1.EnvFromSource {
		return []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}}
	}
	pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", EnvFrom: envFrom("allowed")}}}
	if err := adm.AdmitUpdate(context.Background(), "ephemeralcontainers", pod, testPod()); err != nil {
		t.Fatal(err)
	}
	pod.Spec.EphemeralContainers[0].EnvFrom = envFrom("other")
	err := adm.AdmitUpdate(context.Background(), "ephemeralcontainers", pod, testPod())
	want := `pods "p" is forbidden: ephemeral container debug with envFrom referencing secret.secretName="other" is not allowed because service account default does not reference that secret`
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Fatalf("err %v\nwant %q", err, want)
	}
	// Other updates are not this plugin's business.
	if err := adm.AdmitUpdate(context.Background(), "", pod, testPod()); err != nil {
		t.Fatal(err)
	}
}
