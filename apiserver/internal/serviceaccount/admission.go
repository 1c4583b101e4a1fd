package serviceaccount

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"
)

const (
	// DefaultServiceAccountName is the account of a pod that names none.
	DefaultServiceAccountName = "default"
	// EnforceMountableSecretsAnnotation, "true" on a ServiceAccount, limits
	// its pods to the Secrets the account lists.
	EnforceMountableSecretsAnnotation = "kubernetes.io/enforce-mountable-secrets"
	// TokenVolumeNamePrefix starts the name of the token volume admission
	// adds; five random characters follow.
	TokenVolumeNamePrefix = "kube-api-access-"
	// DefaultAPITokenMountPath is where containers find the token, the
	// cluster CA and their namespace.
	DefaultAPITokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// RootCAConfigMap is the ConfigMap in every namespace that holds the
	// cluster CA under "ca.crt".
	RootCAConfigMap = "kube-root-ca.crt"
)

// defaultAccountAttempts is how many times admission looks for the
// "default" account: a namespace created a moment ago may not have it
// yet, until the serviceaccount controller makes it.
const defaultAccountAttempts = 10

// Admission is Kubernetes' ServiceAccount admission plugin for pods: a new
// pod runs as a ServiceAccount that exists ("default" unless it names one),
// inherits the account's image pull secrets, and gets its token mounted
// at DefaultAPITokenMountPath in a projected volume, unless it or its
// account opts out with automountServiceAccountToken false. Mirror pods
// are left as they are, but may reference no account, Secret or token.
type Admission struct {
	// Get returns the ServiceAccount namespace/name, or a NotFound error.
	Get func(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
	// RetryInterval is the wait between looks for a missing "default"
	// account; 0 means upstream's random 100-200 ms.
	RetryInterval time.Duration
}

var podsResource = schema.GroupResource{Resource: "pods"}

// AdmitCreate implements genericstore.Admitter.
func (a *Admission) AdmitCreate(ctx context.Context, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return validateMirrorPod(pod)
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = DefaultServiceAccountName
		pod.Spec.DeprecatedServiceAccount = DefaultServiceAccountName //nolint:staticcheck // kept in step with serviceAccountName, as upstream
	}
	sa, err := a.serviceAccount(ctx, pod.Namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		return forbidden(pod, fmt.Errorf("error looking up service account %s/%s: %w", pod.Namespace, pod.Spec.ServiceAccountName, err))
	}
	if shouldAutomount(sa, pod) {
		mountToken(pod)
	}
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = make([]corev1.LocalObjectReference, len(sa.ImagePullSecrets))
		for i, s := range sa.ImagePullSecrets {
			pod.Spec.ImagePullSecrets[i].Name = s.Name
		}
	}
	if enforceMountableSecrets(sa) {
		if err := limitSecretReferences(sa, pod); err != nil {
			return forbidden(pod, err)
		}
	}
	return nil
}

// AdmitUpdate implements genericstore's update admission: ephemeral
// containers added through pods/ephemeralcontainers may use only the
// Secrets an enforcing account lists.
func (a *Admission) AdmitUpdate(ctx context.Context, subresource string, obj, _ runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok || subresource != "ephemeralcontainers" {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		return forbidden(pod, fmt.Errorf("no service account specified for pod %s/%s", pod.Namespace, pod.Name))
	}
	sa, err := a.serviceAccount(ctx, pod.Namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		return forbidden(pod, fmt.Errorf("error looking up service account %s/%s: %w", pod.Namespace, pod.Spec.ServiceAccountName, err))
	}
	if !enforceMountableSecrets(sa) {
		return nil
	}
	mountable := secretNames(sa.Secrets)
	for _, c := range pod.Spec.EphemeralContainers {
		if err := checkEnv("ephemeral container", c.Name, c.Env, c.EnvFrom, mountable, sa.Name); err != nil {
			return forbidden(pod, err)
		}
	}
	return nil
}

// serviceAccount returns the account, looking again for a while for a
// missing "default" one, as upstream.
func (a *Admission) serviceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	attempts := 1
	if name == DefaultServiceAccountName {
		attempts = defaultAccountAttempts
	}
	interval := a.RetryInterval
	if interval == 0 {
		interval = time.Duration(100+rand.IntN(100)) * time.Millisecond
	}
	for i := 0; i < attempts; i++ {
		if i > 0 {
			t := time.NewTimer(interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
		sa, err := a.Get(ctx, namespace, name)
		if err == nil {
			return sa, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccount"}, name)
}

// forbidden is the admission error for pod.
func forbidden(pod *corev1.Pod, err error) error {
	name := pod.Name
	if name == "" {
		name = pod.GenerateName
	}
	return apierrors.NewForbidden(podsResource, name, err)
}

// shouldAutomount: the pod's choice, else the account's, else yes.
func shouldAutomount(sa *corev1.ServiceAccount, pod *corev1.Pod) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// mountToken mounts the token volume read-only at DefaultAPITokenMountPath
// in every init and app container that mounts nothing there, adding the
// volume (or reusing a kube-api-access- one the pod has) if one does.
// Ephemeral containers cannot be in a new pod.
func mountToken(pod *corev1.Pod) {
	volumeName := ""
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, TokenVolumeNamePrefix) {
			volumeName = v.Name
			break
		}
	}
	hasVolume := volumeName != ""
	if !hasVolume {
		volumeName = TokenVolumeNamePrefix + utilrand.String(5)
	}
	mount := corev1.VolumeMount{Name: volumeName, ReadOnly: true, MountPath: DefaultAPITokenMountPath}
	needed := false
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if mountsAt(cs[i].VolumeMounts, DefaultAPITokenMountPath) {
				continue
			}
			cs[i].VolumeMounts = append(cs[i].VolumeMounts, mount)
			needed = true
		}
	}
	if needed && !hasVolume {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
			Name:         volumeName,
			VolumeSource: corev1.VolumeSource{Projected: TokenVolumeSource()},
		})
	}
}

func mountsAt(mounts []corev1.VolumeMount, path string) bool {
	for _, m := range mounts {
		if m.MountPath == path {
			return true
		}
	}
	return false
}

// TokenVolumeSource is the projected volume admission adds: the token
// (asked for with the lifetime that marks it extendable), the cluster CA
// and the namespace.
func TokenVolumeSource() *corev1.ProjectedVolumeSource {
	return &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](corev1.ProjectedVolumeSourceDefaultMode),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Path:              "token",
				ExpirationSeconds: ptr.To[int64](WarnOnlyBoundTokenExpirationSeconds),
			}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{
				Items: []corev1.DownwardAPIVolumeFile{{
					Path:     "namespace",
					FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
				}},
			}},
		},
	}
}

// validateMirrorPod refuses a mirror pod that references an account,
// Secrets or a token: the kubelet runs a static pod without asking the
// API, so the API must not hand it credentials.
func validateMirrorPod(pod *corev1.Pod) error {
	if pod.Spec.ServiceAccountName != "" {
		return forbidden(pod, fmt.Errorf("a mirror pod may not reference service accounts"))
	}
	if len(podSecretNames(pod)) > 0 {
		return forbidden(pod, fmt.Errorf("a mirror pod may not reference secrets"))
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil {
				return forbidden(pod, fmt.Errorf("a mirror pod may not use ServiceAccountToken volume projections"))
			}
		}
	}
	return nil
}

// enforceMountableSecrets reports whether sa limits its pods to its
// Secrets.
func enforceMountableSecrets(sa *corev1.ServiceAccount) bool {
	v, ok := sa.Annotations[EnforceMountableSecretsAnnotation]
	if !ok {
		return false
	}
	enforce, _ := strconv.ParseBool(v)
	return enforce
}

// limitSecretReferences refuses a pod whose secret volumes, secret
// environment or image pull secrets sa does not list, as upstream does
// (which looks at secret volumes only, not other volume kinds' secrets).
func limitSecretReferences(sa *corev1.ServiceAccount, pod *corev1.Pod) error {
	mountable := secretNames(sa.Secrets)
	for _, v := range pod.Spec.Volumes {
		if v.Secret == nil {
			continue
		}
		if !mountable[v.Secret.SecretName] {
			return fmt.Errorf("volume with secret.secretName=\"%s\" is not allowed because service account %s does not reference that secret", v.Secret.SecretName, sa.Name)
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if err := checkEnv("init container", c.Name, c.Env, c.EnvFrom, mountable, sa.Name); err != nil {
			return err
		}
	}
	for _, c := range pod.Spec.Containers {
		if err := checkEnv("container", c.Name, c.Env, c.EnvFrom, mountable, sa.Name); err != nil {
			return err
		}
	}
	pullable := map[string]bool{}
	for _, s := range sa.ImagePullSecrets {
		pullable[s.Name] = true
	}
	for i, s := range pod.Spec.ImagePullSecrets {
		if !pullable[s.Name] {
			return fmt.Errorf(`imagePullSecrets[%d].name="%s" is not allowed because service account %s does not reference that imagePullSecret`, i, s.Name, sa.Name)
		}
	}
	return nil
}

// checkEnv refuses a container whose environment reads a Secret not in
// mountable.
func checkEnv(what, name string, env []corev1.EnvVar, envFrom []corev1.EnvFromSource, mountable map[string]bool, saName string) error {
	for _, e := range env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !mountable[e.ValueFrom.SecretKeyRef.Name] {
			return fmt.Errorf("%s %s with envVar %s referencing secret.secretName=\"%s\" is not allowed because service account %s does not reference that secret", what, name, e.Name, e.ValueFrom.SecretKeyRef.Name, saName)
		}
	}
	for _, e := range envFrom {
		if e.SecretRef != nil && !mountable[e.SecretRef.Name] {
			return fmt.Errorf("%s %s with envFrom referencing secret.secretName=\"%s\" is not allowed because service account %s does not reference that secret", what, name, e.SecretRef.Name, saName)
		}
	}
	return nil
}

func secretNames(refs []corev1.ObjectReference) map[string]bool {
	names := map[string]bool{}
	for _, r := range refs {
		names[r.Name] = true
	}
	return names
}

// podSecretNames lists the Secrets pod references anywhere: image pull
// secrets, every container's environment, and every volume kind that
// names a Secret.
func podSecretNames(pod *corev1.Pod) []string {
	var names []string
	add := func(name string) {
		if name != "" {
			names = append(names, name)
		}
	}
	addRef := func(r *corev1.LocalObjectReference) {
		if r != nil {
			add(r.Name)
		}
	}
	for _, r := range pod.Spec.ImagePullSecrets {
		add(r.Name)
	}
	envs := func(env []corev1.EnvVar, envFrom []corev1.EnvFromSource) {
		for _, e := range envFrom {
			if e.SecretRef != nil {
				add(e.SecretRef.Name)
			}
		}
		for _, e := range env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				add(e.ValueFrom.SecretKeyRef.Name)
			}
		}
	}
	for _, c := range pod.Spec.InitContainers {
		envs(c.Env, c.EnvFrom)
	}
	for _, c := range pod.Spec.Containers {
		envs(c.Env, c.EnvFrom)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		envs(c.Env, c.EnvFrom)
	}
	for _, v := range pod.Spec.Volumes {
		s := v.VolumeSource
		switch {
		case s.AzureFile != nil:
			add(s.AzureFile.SecretName)
		case s.CephFS != nil:
			addRef(s.CephFS.SecretRef)
		case s.Cinder != nil:
			addRef(s.Cinder.SecretRef)
		case s.FlexVolume != nil:
			addRef(s.FlexVolume.SecretRef)
		case s.Projected != nil:
			for _, p := range s.Projected.Sources {
				if p.Secret != nil {
					add(p.Secret.Name)
				}
			}
		case s.RBD != nil:
			addRef(s.RBD.SecretRef)
		case s.Secret != nil:
			add(s.Secret.SecretName)
		case s.ScaleIO != nil:
			addRef(s.ScaleIO.SecretRef)
		case s.ISCSI != nil:
			addRef(s.ISCSI.SecretRef)
		case s.StorageOS != nil:
			addRef(s.StorageOS.SecretRef)
		case s.CSI != nil:
			addRef(s.CSI.NodePublishSecretRef)
		}
	}
	return names
}
