package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// newPod returns a minimal pod as a user writes it, not yet defaulted.
func newPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.25"}}},
	}
}

// defaultedPod is newPod after mutate and the pod strategy's defaults.
func defaultedPod(mutate func(*corev1.Pod)) *corev1.Pod {
	pod := newPod()
	if mutate != nil {
		mutate(pod)
	}
	podStrategy{}.Default(pod)
	return pod
}

func TestDefaultPodSpec(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.PodSpec)
		check  func(*testing.T, *corev1.PodSpec)
	}{
		{"restart policy defaults to Always", nil, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.RestartPolicy, corev1.RestartPolicyAlways)
		}},
		{"termination grace period defaults to 30s", nil, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.TerminationGracePeriodSeconds, ptr.To(int64(30)))
		}},
		{"dns policy defaults to ClusterFirst", nil, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.DNSPolicy, corev1.DNSClusterFirst)
		}},
		{"scheduler defaults to default-scheduler", nil, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.SchedulerName, "default-scheduler")
		}},
		{"security context defaults to empty", nil, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.SecurityContext, &corev1.PodSecurityContext{})
		}},
		{"explicit values are kept", func(s *corev1.PodSpec) {
			s.RestartPolicy, s.DNSPolicy, s.SchedulerName = corev1.RestartPolicyNever, corev1.DNSDefault, "mine"
			s.TerminationGracePeriodSeconds = ptr.To(int64(5))
		}, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.RestartPolicy, corev1.RestartPolicyNever)
			eq(t, s.DNSPolicy, corev1.DNSDefault)
			eq(t, s.SchedulerName, "mine")
			eq(t, *s.TerminationGracePeriodSeconds, int64(5))
		}},
		{"deprecated serviceAccount fills serviceAccountName", func(s *corev1.PodSpec) {
			s.DeprecatedServiceAccount = "robot"
		}, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.ServiceAccountName, "robot")
		}},
		{"serviceAccount mirrors serviceAccountName", func(s *corev1.PodSpec) {
			s.ServiceAccountName, s.DeprecatedServiceAccount = "robot", "old"
		}, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.DeprecatedServiceAccount, "robot")
		}},
		{"a template gets no default service account", nil, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.ServiceAccountName, "")
		}},
		{"a template gets no enableServiceLinks", nil, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.EnableServiceLinks, (*bool)(nil))
		}},
		{"a template's requests are not defaulted from limits", func(s *corev1.PodSpec) {
			s.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
		}, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, len(s.Containers[0].Resources.Requests), 0)
		}},
		{"container termination message defaults", nil, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.Containers[0].TerminationMessagePath, "/dev/termination-log")
			eq(t, s.Containers[0].TerminationMessagePolicy, corev1.TerminationMessageReadFile)
		}},
		{"container port protocol defaults to TCP", func(s *corev1.PodSpec) {
			s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP}}
		}, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.Containers[0].Ports[0].Protocol, corev1.ProtocolTCP)
			eq(t, s.Containers[0].Ports[1].Protocol, corev1.ProtocolUDP)
		}},
		{"probe thresholds and httpGet default", func(s *corev1.PodSpec) {
			s.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}}
		}, func(t *testing.T, s *corev1.PodSpec) {
			p := s.Containers[0].LivenessProbe
			eq(t, []int32{p.TimeoutSeconds, p.PeriodSeconds, p.SuccessThreshold, p.FailureThreshold}, []int32{1, 10, 1, 3})
			eq(t, p.HTTPGet.Path, "/")
			eq(t, p.HTTPGet.Scheme, corev1.URISchemeHTTP)
		}},
		{"lifecycle httpGet defaults", func(s *corev1.PodSpec) {
			s.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}}
		}, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.Containers[0].Lifecycle.PreStop.HTTPGet.Path, "/")
		}},
		{"env fieldRef apiVersion defaults to v1", func(s *corev1.PodSpec) {
			s.Containers[0].Env = []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}}
		}, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.Containers[0].Env[0].ValueFrom.FieldRef.APIVersion, "v1")
		}},
		{"resource quantities round up to milli units", func(s *corev1.PodSpec) {
			s.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100.5m")}
		}, func(t *testing.T, s *corev1.PodSpec) {
			q := s.Containers[0].Resources.Limits[corev1.ResourceCPU]
			eq(t, q.String(), "101m")
		}},
		{"init containers are defaulted too", func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
		}, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.InitContainers[0].ImagePullPolicy, corev1.PullAlways)
			eq(t, s.InitContainers[0].TerminationMessagePolicy, corev1.TerminationMessageReadFile)
		}},
		{"a volume without a source becomes an emptyDir", func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "scratch"}}
		}, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.Volumes[0].EmptyDir, &corev1.EmptyDirVolumeSource{})
		}},
		{"secret and configMap volumes default to mode 0644", func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{
				{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
				{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}}},
			}
		}, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.Volumes[0].Secret.DefaultMode, ptr.To(int32(0644)))
			eq(t, s.Volumes[1].ConfigMap.DefaultMode, ptr.To(int32(0644)))
		}},
		{"hostPath type defaults to unset", func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}}}}
		}, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.Volumes[0].HostPath.Type, ptr.To(corev1.HostPathUnset))
		}},
		{"projected token expiry defaults to an hour", func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}}}
		}, func(t *testing.T, s *corev1.PodSpec) {
			eq(t, s.Volumes[0].Projected.Sources[0].ServiceAccountToken.ExpirationSeconds, ptr.To(int64(3600)))
			eq(t, s.Volumes[0].Projected.DefaultMode, ptr.To(int32(0644)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := newPod().Spec
			if tt.mutate != nil {
				tt.mutate(&spec)
			}
			DefaultPodSpec(&spec)
			tt.check(t, &spec)
		})
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.25", corev1.PullIfNotPresent},
		{"registry.local:5000/team/nginx", corev1.PullAlways},
		{"registry.local:5000/team/nginx:1.25", corev1.PullIfNotPresent},
		{"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullIfNotPresent},
		{"nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullAlways},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			eq(t, defaultPullPolicy(tt.image), tt.want)
		})
	}
	t.Run("an explicit policy is kept", func(t *testing.T) {
		c := corev1.Container{Image: "nginx", ImagePullPolicy: corev1.PullNever}
		defaultContainer(&c)
		eq(t, c.ImagePullPolicy, corev1.PullNever)
	})
}

func TestDefaultPod(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		check  func(*testing.T, *corev1.Pod)
	}{
		// The ServiceAccount admission, not defaulting, names "default"
		// (serviceaccount.Admission), as upstream: a mirror pod must
		// stay without an account.
		{"no service account is made up", nil, func(t *testing.T, p *corev1.Pod) {
			eq(t, p.Spec.ServiceAccountName, "")
		}},
		{"a named service account is kept", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "robot" }, func(t *testing.T, p *corev1.Pod) {
			eq(t, p.Spec.ServiceAccountName, "robot")
		}},
		{"enableServiceLinks defaults to true", nil, func(t *testing.T, p *corev1.Pod) {
			eq(t, p.Spec.EnableServiceLinks, ptr.To(true))
		}},
		{"requests default to limits per resource", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
			}
		}, func(t *testing.T, p *corev1.Pod) {
			r := p.Spec.Containers[0].Resources.Requests
			eq(t, r.Cpu().String(), "500m")
			eq(t, r.Memory().String(), "1Gi")
		}},
		{"init container requests default to limits", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}}
		}, func(t *testing.T, p *corev1.Pod) {
			eq(t, p.Spec.InitContainers[0].Resources.Requests.Memory().String(), "64Mi")
		}},
		{"host network pods use containerPort as hostPort", func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080}}
		}, func(t *testing.T, p *corev1.Pod) {
			eq(t, p.Spec.Containers[0].Ports[0].HostPort, int32(8080))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, defaultedPod(tt.mutate))
		})
	}
}

func TestValidatePodSpec(t *testing.T) {
	tcp := func(port int32) corev1.ContainerPort {
		return corev1.ContainerPort{ContainerPort: port, Protocol: corev1.ProtocolTCP}
	}
	emptyDir := func(name string) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	}
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []string
	}{
		{"a defaulted minimal pod is valid", nil, nil},
		{"pod certificate expiry between an hour and 91 days", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "certs", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{PodCertificate: &corev1.PodCertificateProjection{SignerName: "example.com/signer", KeyType: "ED25519", CredentialBundlePath: "a.pem", MaxExpirationSeconds: ptr.To[int32](92 * 24 * 3600)}},
				{PodCertificate: &corev1.PodCertificateProjection{SignerName: "example.com/signer", KeyType: "ED25519", CredentialBundlePath: "b.pem", MaxExpirationSeconds: ptr.To[int32](60)}},
				{PodCertificate: &corev1.PodCertificateProjection{SignerName: "kubernetes.io/kube-apiserver-client-pod", KeyType: "RSA1024", KeyPath: "c.key", MaxExpirationSeconds: ptr.To[int32](48 * 3600)}},
				{PodCertificate: &corev1.PodCertificateProjection{SignerName: "example.com/signer", KeyType: "ED25519", MaxExpirationSeconds: ptr.To[int32](7200)}},
				{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{SignerName: ptr.To("example.com/signer"), Path: "a.pem"}},
			}}}}}
		}, []string{
			"spec.volumes[0].projected.sources[0].podCertificate.maxExpirationSeconds: Invalid value",
			"spec.volumes[0].projected.sources[1].podCertificate.maxExpirationSeconds: Invalid value",
			"spec.volumes[0].projected.sources[2].podCertificate.keyType: Unsupported value",
			"spec.volumes[0].projected.sources[2].podCertificate.maxExpirationSeconds: Invalid value",
			"spec.volumes[0].projected.sources[3].podCertificate: Required value",
			"spec.volumes[0].projected.sources[4].clusterTrustBundle.path: Invalid value",
		}},
		{"at least one container", func(p *corev1.Pod) { p.Spec.Containers = nil },
			[]string{"spec.containers: Required value"}},
		{"container name is required", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" },
			[]string{"spec.containers[0].name: Required value"}},
		{"container name is a DNS label", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "App_1" },
			[]string{"spec.containers[0].name: Invalid value"}},
		{"container names are unique", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, p.Spec.Containers[0])
		}, []string{"spec.containers[1].name: Duplicate value"}},
		{"init and regular container names are unique together", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{p.Spec.Containers[0]}
		}, []string{"spec.initContainers[0].name: Duplicate value"}},
		{"image is required", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			[]string{"spec.containers[0].image: Required value"}},
		{"image without surrounding whitespace", func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" },
			[]string{"spec.containers[0].image: Invalid value"}},
		{"container port is required", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Protocol: corev1.ProtocolTCP}}
		},
			[]string{"spec.containers[0].ports[0].containerPort: Required value"}},
		{"container port in range", func(p *corev1.Pod) { p.Spec.Containers[0].Ports = []corev1.ContainerPort{tcp(70000)} },
			[]string{"spec.containers[0].ports[0].containerPort: Invalid value"}},
		{"host port in range", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: -1, Protocol: corev1.ProtocolTCP}}
		}, []string{"spec.containers[0].ports[0].hostPort: Invalid value"}},
		{"port name is an IANA service name", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "a-very-long-port-name", ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
		}, []string{"spec.containers[0].ports[0].name: Invalid value"}},
		{"port names are unique", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP}, {Name: "http", ContainerPort: 81, Protocol: corev1.ProtocolTCP}}
		}, []string{"spec.containers[0].ports[1].name: Duplicate value"}},
		{"port protocol is TCP, UDP or SCTP", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: "HTTP"}}
		}, []string{"spec.containers[0].ports[0].protocol: Unsupported value"}},
		{"containerPort and protocol are unique", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{tcp(80), tcp(80), {ContainerPort: 80, Protocol: corev1.ProtocolUDP}}
		}, []string{"spec.containers[0].ports[1]: Duplicate value"}},
		{"host ports do not clash between containers", func(p *corev1.Pod) {
			hp := corev1.ContainerPort{ContainerPort: 80, HostPort: 8080, Protocol: corev1.ProtocolTCP}
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{hp}
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "b", Image: "b", ImagePullPolicy: corev1.PullAlways,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile, Ports: []corev1.ContainerPort{hp}})
		}, []string{"spec.containers[1].ports[0].hostPort: Duplicate value"}},
		{"env name is required", func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Value: "x"}} },
			[]string{"spec.containers[0].env[0].name: Required value"}},
		{"env name is valid", func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "1ST", Value: "x"}} },
			[]string{"spec.containers[0].env[0].name: Invalid value"}},
		{"env valueFrom names a source", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{}}}
		}, []string{"spec.containers[0].env[0].valueFrom: Invalid value"}},
		{"env valueFrom names one source only", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
				ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Key: "k"},
				SecretKeyRef:    &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"},
			}}}
		}, []string{"spec.containers[0].env[0].valueFrom: Invalid value"}},
		{"env value and valueFrom are exclusive", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", Value: "v", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}}}
		}, []string{"spec.containers[0].env[0].valueFrom: Invalid value"}},
		{"env fieldRef path is supported", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.containers"}}}}
		}, []string{"spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value"}},
		{"env fieldRef may read a label", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['app']"}}}}
		}, nil},
		{"env secretKeyRef needs a key", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}}}
		}, []string{"spec.containers[0].env[0].valueFrom.secretKeyRef.key: Required value"}},
		{"envFrom names a source", func(p *corev1.Pod) { p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{Prefix: "P_"}} },
			[]string{"spec.containers[0].envFrom: Invalid value"}},
		{"volume names are DNS labels", func(p *corev1.Pod) { p.Spec.Volumes = []corev1.Volume{emptyDir("Data")} },
			[]string{"spec.volumes[0].name: Invalid value"}},
		{"volume name is required", func(p *corev1.Pod) { p.Spec.Volumes = []corev1.Volume{emptyDir("")} },
			[]string{"spec.volumes[0].name: Required value"}},
		{"volume names are unique", func(p *corev1.Pod) { p.Spec.Volumes = []corev1.Volume{emptyDir("d"), emptyDir("d")} },
			[]string{"spec.volumes[1].name: Duplicate value"}},
		{"a volume has one source only", func(p *corev1.Pod) {
			v := emptyDir("d")
			v.HostPath = &corev1.HostPathVolumeSource{Path: "/data", Type: ptr.To(corev1.HostPathUnset)}
			p.Spec.Volumes = []corev1.Volume{v}
		}, []string{"spec.volumes[0].emptyDir: Forbidden"}},
		{"a volume has a source", func(p *corev1.Pod) { p.Spec.Volumes = []corev1.Volume{{Name: "d"}} },
			[]string{"spec.volumes[0]: Required value"}},
		{"hostPath needs a path", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{}}}}
		}, []string{"spec.volumes[0].hostPath.path: Required value"}},
		{"hostPath type is supported", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/d", Type: ptr.To(corev1.HostPathType("Dir"))}}}}
		}, []string{"spec.volumes[0].hostPath.type: Unsupported value"}},
		{"secret volume needs a secret name", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}}}
		}, []string{"spec.volumes[0].secret.secretName: Required value"}},
		{"configMap volume mode is a file mode", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, DefaultMode: ptr.To(int32(01000))}}}}
		}, []string{"spec.volumes[0].configMap.defaultMode: Invalid value"}},
		{"configMap item paths stay inside the volume", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, Items: []corev1.KeyToPath{{Key: "k", Path: "../etc/passwd"}}}}}}
		}, []string{"spec.volumes[0].configMap.items[0].path: Invalid value"}},
		{"persistentVolumeClaim volume needs a claim name", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "c", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}}}}
		}, []string{"spec.volumes[0].persistentVolumeClaim.claimName: Required value"}},
		{"a mount refers to a volume", func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "missing", MountPath: "/data"}}
		}, []string{"spec.containers[0].volumeMounts[0].name: Not found"}},
		{"a mount has a mount path", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{emptyDir("d")}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "d"}}
		}, []string{"spec.containers[0].volumeMounts[0].mountPath: Required value"}},
		{"mount paths are unique", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{emptyDir("a"), emptyDir("b")}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "a", MountPath: "/data"}, {Name: "b", MountPath: "/data"}}
		}, []string{"spec.containers[0].volumeMounts[1].mountPath: Invalid value"}},
		{"a mount's subPath is relative", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{emptyDir("a")}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "a", MountPath: "/data", SubPath: "/etc"}}
		}, []string{"spec.containers[0].volumeMounts[0].subPath: Invalid value"}},
		{"a valid mount", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{emptyDir("a")}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "a", MountPath: "/data", SubPath: "x"}}
		}, nil},
		{"restart policy is supported", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" },
			[]string{"spec.restartPolicy: Unsupported value"}},
		{"dns policy is supported", func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" },
			[]string{"spec.dnsPolicy: Unsupported value"}},
		{"dns policy None needs nameservers", func(p *corev1.Pod) {
			p.Spec.DNSPolicy = corev1.DNSNone
			p.Spec.DNSConfig = &corev1.PodDNSConfig{}
		}, []string{"spec.dnsConfig.nameservers: Required value"}},
		{"image pull policy is supported", func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "Sometimes" },
			[]string{"spec.containers[0].imagePullPolicy: Unsupported value"}},
		{"resource quantities are not negative", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")}
		}, []string{"spec.containers[0].resources.requests[cpu]: Invalid value"}},
		{"requests do not exceed limits", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			}
		}, []string{"spec.containers[0].resources.requests: Invalid value"}},
		{"resource names are standard for containers", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"pods": resource.MustParse("1")}
		}, []string{"spec.containers[0].resources.limits[pods]: Invalid value"}},
		{"extended resources need equal requests and limits", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{"example.com/gpu": resource.MustParse("1")},
				Limits:   corev1.ResourceList{"example.com/gpu": resource.MustParse("2")},
			}
		}, []string{"spec.containers[0].resources.requests: Invalid value"}},
		{"a probe has a handler", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
		}, []string{"spec.containers[0].readinessProbe: Required value"}},
		{"a probe has one handler only", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				Exec:      &corev1.ExecAction{Command: []string{"true"}},
				TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)},
			}, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
		}, []string{"spec.containers[0].readinessProbe.tcpSocket: Forbidden"}},
		{"probe timings are not negative", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}},
				InitialDelaySeconds: -1, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
		}, []string{"spec.containers[0].readinessProbe.initialDelaySeconds: Invalid value"}},
		{"liveness success threshold is 1", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 2, FailureThreshold: 3}
		}, []string{"spec.containers[0].livenessProbe.successThreshold: Invalid value"}},
		{"httpGet probe port is valid", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/", Port: intstr.FromString("-http"), Scheme: corev1.URISchemeHTTP}},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
		}, []string{"spec.containers[0].livenessProbe.httpGet.port: Invalid value"}},
		{"plain init containers may not have probes", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", ImagePullPolicy: corev1.PullAlways,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				ReadinessProbe:           &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}}}
		}, []string{"spec.initContainers[0].readinessProbe: Forbidden"}},
		{"init container restart policy is only Always", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", ImagePullPolicy: corev1.PullAlways,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile, RestartPolicy: ptr.To(corev1.ContainerRestartPolicy("Never"))}}
		}, []string{"spec.initContainers[0].restartPolicy: Unsupported value"}},
		{"regular containers have no restart policy", func(p *corev1.Pod) {
			p.Spec.Containers[0].RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		}, []string{"spec.containers[0].restartPolicy: Forbidden"}},
		{"nodeSelector holds valid labels", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "fast ssd"} },
			[]string{"spec.nodeSelector: Invalid value"}},
		{"toleration operator is supported", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: "Like", Value: "v"}}
		}, []string{"spec.tolerations[0].operator: Unsupported value"}},
		{"toleration effect is supported", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: "NoRun"}}
		}, []string{"spec.tolerations[0].effect: Unsupported value"}},
		{"an empty toleration key needs Exists", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual}}
		}, []string{"spec.tolerations[0].operator: Invalid value"}},
		{"tolerationSeconds needs NoExecute", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr.To(int64(5))}}
		}, []string{"spec.tolerations[0].effect: Invalid value"}},
		{"activeDeadlineSeconds is positive", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To(int64(0)) },
			[]string{"spec.activeDeadlineSeconds: Invalid value"}},
		{"hostname is a DNS label", func(p *corev1.Pod) { p.Spec.Hostname = "web.1" },
			[]string{"spec.hostname: Invalid value"}},
		{"subdomain is a DNS label", func(p *corev1.Pod) { p.Spec.Subdomain = "Web" },
			[]string{"spec.subdomain: Invalid value"}},
		{"nodeName is a DNS subdomain", func(p *corev1.Pod) { p.Spec.NodeName = "Node_1" },
			[]string{"spec.nodeName: Invalid value"}},
		{"node affinity needs a term", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}}
		}, []string{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: Required value"}},
		{"node affinity In needs values", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn}}}}}}}
		}, []string{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: Required value"}},
		{"pod anti-affinity needs a topology key", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}}
		}, []string{"spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required value"}},
		{"topology spread maxSkew is positive", func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 0, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule}}
		}, []string{"spec.topologySpreadConstraints[0].maxSkew: Invalid value"}},
		{"scheduling gates are unique", func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}, {Name: "example.com/wait"}}
		}, []string{"spec.schedulingGates[1]: Duplicate value"}},
		{"host aliases have valid IPs", func(p *corev1.Pod) {
			p.Spec.HostAliases = []corev1.HostAlias{{IP: "10.0.0.300", Hostnames: []string{"db"}}}
		}, []string{"spec.hostAliases[0].ip: Invalid value"}},
		{"host network pods use containerPort as hostPort", func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: corev1.ProtocolTCP}}
		}, []string{"spec.containers[0].ports[0].hostPort: Invalid value"}},
		{"terminationGracePeriodSeconds is required", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = nil },
			[]string{"spec.terminationGracePeriodSeconds: Required value"}},
		// The conformance test's pod: the names are checked, not whether
		// a node allows them.
		{"sysctl names are well formed and unique", func(p *corev1.Pod) {
			p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "foo-", Value: "bar"}, {Name: "kernel.shmmax", Value: "1"},
				{Name: "safe-and-unsafe", Value: "1"}, {Name: "bar..", Value: "42"}, {Name: "kernel.shmmax", Value: "2"}, {Name: "net/ipv4/ip_forward"}, {}}
		}, []string{"spec.securityContext.sysctls[0].name: Invalid value", "spec.securityContext.sysctls[3].name: Invalid value",
			"spec.securityContext.sysctls[4].name: Duplicate value", "spec.securityContext.sysctls[6].name: Required value"}},
		{"no net sysctls with hostNetwork, no IPC ones with hostIPC", func(p *corev1.Pod) {
			p.Spec.HostNetwork, p.Spec.HostIPC = true, true
			p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_local_port_range", Value: "1024 65535"}, {Name: "kernel.shm_rmid_forced", Value: "1"}, {Name: "kernel.domainname", Value: "x"}}
		}, []string{"spec.securityContext.sysctls[0].name: Invalid value", "spec.securityContext.sysctls[1].name: Invalid value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := defaultedPod(nil)
			if tt.mutate != nil {
				tt.mutate(pod)
			}
			checkErrs(t, podStrategy{}.Validate(pod), tt.want...)
		})
	}
}

func TestValidatePodTemplateSpec(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.PodTemplateSpec)
		want   []string
	}{
		{"a defaulted template is valid", nil, nil},
		{"errors sit under the template's path", func(pt *corev1.PodTemplateSpec) { pt.Spec.Containers[0].Image = "" },
			[]string{"spec.template.spec.containers[0].image: Required value"}},
		{"template labels are valid", func(pt *corev1.PodTemplateSpec) { pt.Labels = map[string]string{"app": "web app"} },
			[]string{"spec.template.metadata.labels: Invalid value"}},
		{"a template may leave hostPort unset under host networking", func(pt *corev1.PodTemplateSpec) {
			pt.Spec.HostNetwork = true
			pt.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
		}, nil},
		{"no ephemeral containers in a template", func(pt *corev1.PodTemplateSpec) {
			pt.Spec.EphemeralContainers = []corev1.EphemeralContainer{{}}
		}, []string{"spec.template.spec.ephemeralContainers: Forbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt := &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: newPod().Spec}
			DefaultPodTemplateSpec(pt)
			if tt.mutate != nil {
				tt.mutate(pt)
			}
			checkErrs(t, ValidatePodTemplateSpec(pt, field.NewPath("spec", "template")), tt.want...)
		})
	}
}
