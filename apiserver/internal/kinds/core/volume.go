package core

import (
	"fmt"
	"path"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// defaultVolume sets what Kubernetes sets on a pod volume. A volume naming
// no source at all becomes an emptyDir.
func defaultVolume(v *corev1.Volume) {
	if reflect.ValueOf(v.VolumeSource).IsZero() {
		v.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	switch {
	case v.HostPath != nil:
		if v.HostPath.Type == nil {
			v.HostPath.Type = ptr.To(corev1.HostPathUnset)
		}
	case v.Secret != nil:
		if v.Secret.DefaultMode == nil {
			v.Secret.DefaultMode = ptr.To(corev1.SecretVolumeSourceDefaultMode)
		}
	case v.ConfigMap != nil:
		if v.ConfigMap.DefaultMode == nil {
			v.ConfigMap.DefaultMode = ptr.To(corev1.ConfigMapVolumeSourceDefaultMode)
		}
	case v.DownwardAPI != nil:
		if v.DownwardAPI.DefaultMode == nil {
			v.DownwardAPI.DefaultMode = ptr.To(corev1.DownwardAPIVolumeSourceDefaultMode)
		}
		defaultDownwardAPIFiles(v.DownwardAPI.Items)
	case v.Projected != nil:
		if v.Projected.DefaultMode == nil {
			v.Projected.DefaultMode = ptr.To(corev1.ProjectedVolumeSourceDefaultMode)
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil && s.ServiceAccountToken.ExpirationSeconds == nil {
				s.ServiceAccountToken.ExpirationSeconds = ptr.To(int64(3600))
			}
			if s.DownwardAPI != nil {
				defaultDownwardAPIFiles(s.DownwardAPI.Items)
			}
		}
	case v.Ephemeral != nil && v.Ephemeral.VolumeClaimTemplate != nil:
		defaultPersistentVolumeClaimSpec(&v.Ephemeral.VolumeClaimTemplate.Spec)
	}
}

func defaultDownwardAPIFiles(items []corev1.DownwardAPIVolumeFile) {
	for _, item := range items {
		if item.FieldRef != nil && item.FieldRef.APIVersion == "" {
			item.FieldRef.APIVersion = "v1"
		}
	}
}

// validateVolumes checks a pod's volumes and returns the valid ones by
// name, for the containers' mounts to refer to.
func validateVolumes(volumes []corev1.Volume, p *field.Path) (map[string]corev1.VolumeSource, field.ErrorList) {
	var errs field.ErrorList
	valid := map[string]corev1.VolumeSource{}
	names := sets.New[string]()
	for i, v := range volumes {
		idx := p.Index(i)
		namePath := idx.Child("name")
		el := validateVolumeSource(&v.VolumeSource, idx)
		if v.Name == "" {
			el = append(el, field.Required(namePath, ""))
		} else {
			el = append(el, validateDNSLabel(v.Name, namePath)...)
		}
		if names.Has(v.Name) {
			el = append(el, field.Duplicate(namePath, v.Name))
		}
		if len(el) > 0 {
			errs = append(errs, el...)
			continue
		}
		names.Insert(v.Name)
		valid[v.Name] = v.VolumeSource
	}
	return valid, errs
}

var supportedHostPathTypes = []corev1.HostPathType{
	corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory, corev1.HostPathFileOrCreate,
	corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev,
}

// validateVolumeSource checks that exactly one source is set, and the
// sources users write by hand; the cloud and legacy in-tree ones are
// counted but not looked into.
func validateVolumeSource(src *corev1.VolumeSource, p *field.Path) field.ErrorList {
	first, errs := validateOneSource(*src, p)
	if first == "" {
		return errs
	}
	fp := p.Child(first)
	switch {
	case src.EmptyDir != nil:
		if src.EmptyDir.SizeLimit != nil && src.EmptyDir.SizeLimit.Sign() < 0 {
			errs = append(errs, field.Forbidden(fp.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity"))
		}
	case src.HostPath != nil:
		errs = append(errs, validateHostPath(src.HostPath, fp)...)
	case src.Secret != nil:
		if src.Secret.SecretName == "" {
			errs = append(errs, field.Required(fp.Child("secretName"), ""))
		}
		errs = append(errs, validateFileMode(src.Secret.DefaultMode, fp.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(src.Secret.Items, fp.Child("items"))...)
	case src.ConfigMap != nil:
		if src.ConfigMap.Name == "" {
			errs = append(errs, field.Required(fp.Child("name"), ""))
		}
		errs = append(errs, validateFileMode(src.ConfigMap.DefaultMode, fp.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(src.ConfigMap.Items, fp.Child("items"))...)
	case src.PersistentVolumeClaim != nil:
		if src.PersistentVolumeClaim.ClaimName == "" {
			errs = append(errs, field.Required(fp.Child("claimName"), ""))
		}
	case src.NFS != nil:
		errs = append(errs, validateNFS(src.NFS, fp)...)
	case src.DownwardAPI != nil:
		errs = append(errs, validateFileMode(src.DownwardAPI.DefaultMode, fp.Child("defaultMode"))...)
		for i := range src.DownwardAPI.Items {
			errs = append(errs, validateDownwardAPIFile(&src.DownwardAPI.Items[i], fp.Child("items").Index(i))...)
		}
	case src.Projected != nil:
		errs = append(errs, validateProjected(src.Projected, fp)...)
	case src.CSI != nil:
		if src.CSI.Driver == "" {
			errs = append(errs, field.Required(fp.Child("driver"), ""))
		}
	case src.Ephemeral != nil:
		if src.Ephemeral.VolumeClaimTemplate == nil {
			errs = append(errs, field.Required(fp.Child("volumeClaimTemplate"), ""))
		} else {
			errs = append(errs, validatePersistentVolumeClaimSpec(&src.Ephemeral.VolumeClaimTemplate.Spec, fp.Child("volumeClaimTemplate", "spec"), claimOptions{})...)
		}
	}
	return errs
}

func validateHostPath(hp *corev1.HostPathVolumeSource, p *field.Path) field.ErrorList {
	if hp.Path == "" {
		return field.ErrorList{field.Required(p.Child("path"), "")}
	}
	errs := validatePathNoBacksteps(hp.Path, p.Child("path"))
	if hp.Type != nil {
		ok := false
		for _, t := range supportedHostPathTypes {
			ok = ok || *hp.Type == t
		}
		if !ok {
			errs = append(errs, field.NotSupported(p.Child("type"), *hp.Type, supportedHostPathTypes))
		}
	}
	return errs
}

func validateNFS(nfs *corev1.NFSVolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if nfs.Server == "" {
		errs = append(errs, field.Required(p.Child("server"), ""))
	}
	if nfs.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	}
	if !path.IsAbs(nfs.Path) {
		errs = append(errs, field.Invalid(p.Child("path"), nfs.Path, "must be an absolute path"))
	}
	return errs
}

func validateKeyToPaths(items []corev1.KeyToPath, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, kp := range items {
		idx := p.Index(i)
		if kp.Key == "" {
			errs = append(errs, field.Required(idx.Child("key"), ""))
		}
		if kp.Path == "" {
			errs = append(errs, field.Required(idx.Child("path"), ""))
		}
		errs = append(errs, validateLocalNonReservedPath(kp.Path, idx.Child("path"))...)
		errs = append(errs, validateFileMode(kp.Mode, idx.Child("mode"))...)
	}
	return errs
}

func validateDownwardAPIFile(f *corev1.DownwardAPIVolumeFile, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if f.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	}
	errs = append(errs, validateLocalNonReservedPath(f.Path, p.Child("path"))...)
	switch {
	case f.FieldRef != nil:
		errs = append(errs, validateObjectFieldSelector(f.FieldRef, volumeFieldPaths, p.Child("fieldRef"))...)
		if f.ResourceFieldRef != nil {
			errs = append(errs, field.Invalid(p, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case f.ResourceFieldRef != nil:
		errs = append(errs, validateResourceFieldSelector(f.ResourceFieldRef, true, p.Child("resourceFieldRef"))...)
	default:
		errs = append(errs, field.Required(p, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(errs, validateFileMode(f.Mode, p.Child("mode"))...)
}

// minTokenExpirationSeconds is the shortest service account token a
// projected volume may ask for.
const minTokenExpirationSeconds = 10 * 60

func validateProjected(proj *corev1.ProjectedVolumeSource, p *field.Path) field.ErrorList {
	errs := validateFileMode(proj.DefaultMode, p.Child("defaultMode"))
	paths := sets.New[string]()
	addPath := func(target string, fp *field.Path) {
		if target == "" {
			return
		}
		if paths.Has(target) {
			errs = append(errs, field.Invalid(fp, target, "conflicting duplicate paths"))
		}
		paths.Insert(target)
	}
	for i, s := range proj.Sources {
		sp := p.Child("sources").Index(i)
		n := 0
		if s.Secret != nil {
			n++
			if s.Secret.Name == "" {
				errs = append(errs, field.Required(sp.Child("secret", "name"), ""))
			}
			errs = append(errs, validateKeyToPaths(s.Secret.Items, sp.Child("secret", "items"))...)
			for j, kp := range s.Secret.Items {
				addPath(kp.Path, sp.Child("secret", "items").Index(j).Child("path"))
			}
		}
		if s.ConfigMap != nil {
			n++
			if s.ConfigMap.Name == "" {
				errs = append(errs, field.Required(sp.Child("configMap", "name"), ""))
			}
			errs = append(errs, validateKeyToPaths(s.ConfigMap.Items, sp.Child("configMap", "items"))...)
			for j, kp := range s.ConfigMap.Items {
				addPath(kp.Path, sp.Child("configMap", "items").Index(j).Child("path"))
			}
		}
		if s.DownwardAPI != nil {
			n++
			for j := range s.DownwardAPI.Items {
				fp := sp.Child("downwardAPI", "items").Index(j)
				errs = append(errs, validateDownwardAPIFile(&s.DownwardAPI.Items[j], fp)...)
				addPath(s.DownwardAPI.Items[j].Path, fp.Child("path"))
			}
		}
		if t := s.ServiceAccountToken; t != nil {
			n++
			tp := sp.Child("serviceAccountToken")
			if t.ExpirationSeconds != nil && *t.ExpirationSeconds < minTokenExpirationSeconds {
				errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
			}
			if t.Path == "" {
				errs = append(errs, field.Required(tp.Child("path"), ""))
			}
			errs = append(errs, validateLocalNonReservedPath(t.Path, tp.Child("path"))...)
			addPath(t.Path, tp.Child("path"))
		}
		if b := s.ClusterTrustBundle; b != nil {
			n++
			bp := sp.Child("clusterTrustBundle")
			switch {
			case b.Name != nil && b.SignerName != nil:
				errs = append(errs, field.Invalid(bp, b, "only one of name and signerName may be used"))
			case b.Name != nil:
				if *b.Name == "" {
					errs = append(errs, field.Required(bp.Child("name"), "must be a valid object name"))
				}
				if b.LabelSelector != nil {
					errs = append(errs, field.Invalid(bp.Child("labelSelector"), b.LabelSelector, "labelSelector must be unset if name is specified"))
				}
			case b.SignerName != nil:
				if *b.SignerName == "" {
					errs = append(errs, field.Required(bp.Child("signerName"), "must be a valid signer name"))
				}
			default:
				errs = append(errs, field.Required(bp, "either name or signerName must be specified"))
			}
			if b.Path == "" {
				errs = append(errs, field.Required(bp.Child("path"), ""))
			}
			errs = append(errs, validateLocalNonReservedPath(b.Path, bp.Child("path"))...)
			addPath(b.Path, bp.Child("path"))
		}
		if c := s.PodCertificate; c != nil {
			n++
			errs = append(errs, validatePodCertificate(c, sp.Child("podCertificate"), addPath)...)
		}
		if n > 1 {
			errs = append(errs, field.Forbidden(sp, "may not specify more than 1 volume type per source"))
		}
	}
	return errs
}

// The bounds of a podCertificate projection's maxExpirationSeconds, as
// Kubernetes' (certificates.MaxMaxExpirationSeconds; a kubernetes.io
// signer issues for a day at most).
const (
	minPodCertificateExpirationSeconds           = 3600
	maxPodCertificateExpirationSeconds           = 91 * 24 * 3600
	maxKubernetesPodCertificateExpirationSeconds = 24 * 3600
)

// podCertificateKeyTypes are the key types a podCertificate projection
// may ask for.
var podCertificateKeyTypes = []string{"RSA3072", "RSA4096", "ECDSAP256", "ECDSAP384", "ECDSAP521", "ED25519"}

// validatePodCertificate checks a projected podCertificate source as
// Kubernetes' validateProjectionSources does: a signer, a key type, the
// expiration bounds and at least one path, each path unique in the volume.
func validatePodCertificate(c *corev1.PodCertificateProjection, p *field.Path, addPath func(string, *field.Path)) field.ErrorList {
	var errs field.ErrorList
	if c.SignerName == "" {
		errs = append(errs, field.Required(p.Child("signerName"), ""))
	} else if !strings.Contains(c.SignerName, "/") {
		errs = append(errs, field.Invalid(p.Child("signerName"), c.SignerName, "must be a fully qualified domain and path of the form 'example.com/signer-name'"))
	}
	if !slices.Contains(podCertificateKeyTypes, c.KeyType) {
		errs = append(errs, field.NotSupported(p.Child("keyType"), c.KeyType, podCertificateKeyTypes))
	}
	if e := c.MaxExpirationSeconds; e != nil {
		if *e < minPodCertificateExpirationSeconds {
			errs = append(errs, field.Invalid(p.Child("maxExpirationSeconds"), *e, "if provided, maxExpirationSeconds must be >= 3600"))
		}
		limit := int32(maxPodCertificateExpirationSeconds)
		if host, _, _ := strings.Cut(c.SignerName, "/"); host == "kubernetes.io" || strings.HasSuffix(host, ".kubernetes.io") {
			limit = maxKubernetesPodCertificateExpirationSeconds
		}
		if *e > limit {
			errs = append(errs, field.Invalid(p.Child("maxExpirationSeconds"), *e, fmt.Sprintf("if provided, maxExpirationSeconds must be <= %d", limit)))
		}
	}
	paths := 0
	for _, f := range []struct{ name, path string }{
		{"credentialBundlePath", c.CredentialBundlePath}, {"keyPath", c.KeyPath}, {"certificateChainPath", c.CertificateChainPath},
	} {
		if f.path == "" {
			continue
		}
		paths++
		errs = append(errs, validateLocalNonReservedPath(f.path, p.Child(f.name))...)
		addPath(f.path, p.Child(f.name))
	}
	if paths == 0 {
		errs = append(errs, field.Required(p, "specify at least one of credentialBundlePath, keyPath, and certificateChainPath"))
	}
	return errs
}
