package certificates

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"sort"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// ClusterTrustBundles: cluster-scoped bundles of CA certificates, for a
// signer or for no one in particular, that pods mount through projected
// volumes. Selectable by spec.signerName.
func ClusterTrustBundles() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(certificatesv1.SchemeGroupVersion, "clustertrustbundles",
		&certificatesv1.ClusterTrustBundle{}, &certificatesv1.ClusterTrustBundleList{})
	d.Strategy = clusterTrustBundleStrategy{}
	// The real rule depends on spec.signerName; the strategy applies it.
	d.NameValidator = path.ValidatePathSegmentName
	d.Table = printers.ClusterTrustBundle()
	d.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"spec.signerName": obj.(*certificatesv1.ClusterTrustBundle).Spec.SignerName}
	}
	d.FieldLabels = []string{"spec.signerName"}
	return d
}

// clusterTrustBundleStrategy validates ClusterTrustBundles as Kubernetes'
// pkg/apis/certificates/validation does: a bundle of a signer is named
// after it ("example.com:signer:name"), so that names never collide
// across signers and a bundle's signer shows in its name; the signer is
// fixed; the bundle is CA certificates only, each once.
type clusterTrustBundleStrategy struct{ apiresource.DefaultStrategy }

func (clusterTrustBundleStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateClusterTrustBundle(obj.(*certificatesv1.ClusterTrustBundle), true)
}

// ValidateUpdate parses the bundle only when it changes, so that a stored
// bundle stays writable whatever Go's parsers later make of it.
func (clusterTrustBundleStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	b, was := obj.(*certificatesv1.ClusterTrustBundle), old.(*certificatesv1.ClusterTrustBundle)
	errs := validateClusterTrustBundle(b, b.Spec.TrustBundle != was.Spec.TrustBundle)
	return append(errs, apivalidation.ValidateImmutableField(b.Spec.SignerName, was.Spec.SignerName, field.NewPath("spec", "signerName"))...)
}

func validateClusterTrustBundle(b *certificatesv1.ClusterTrustBundle, parse bool) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range trustBundleNameErrors(b.Spec.SignerName, b.Name) {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), b.Name, msg))
	}
	if b.Spec.SignerName != "" {
		errs = append(errs, validateSignerName(field.NewPath("spec", "signerName"), b.Spec.SignerName)...)
	}
	if parse {
		errs = append(errs, validateTrustBundle(field.NewPath("spec", "trustBundle"), b.Spec.TrustBundle)...)
	}
	return errs
}

// trustBundleNameErrors: a bundle without a signer has a DNS subdomain
// name without ":"; a bundle of a signer is named with the signer's name,
// "/" turned ":", then ":" and a DNS subdomain.
func trustBundleNameErrors(signer, name string) []string {
	if signer == "" {
		if strings.Contains(name, ":") {
			return []string{`ClusterTrustBundle without signer name must not have ":" in its name`}
		}
		return apivalidation.NameIsDNSSubdomain(name, false)
	}
	prefix := strings.ReplaceAll(signer, "/", ":") + ":"
	if !strings.HasPrefix(name, prefix) {
		return []string{fmt.Sprintf("ClusterTrustBundle for signerName %s must be named with prefix %s", signer, prefix)}
	}
	return apivalidation.NameIsDNSSubdomain(strings.TrimPrefix(name, prefix), false)
}

// maxTrustBundleSize bounds spec.trustBundle.
const maxTrustBundleSize = 1 << 20

// validateTrustBundle accepts PEM CERTIFICATE blocks without headers, each
// a CA certificate with valid basic constraints, none repeated, at least
// one. Data between blocks is ignored, as in Kubernetes.
func validateTrustBundle(p *field.Path, bundle string) field.ErrorList {
	if len(bundle) > maxTrustBundleSize {
		return field.ErrorList{field.TooLong(p, "", maxTrustBundleSize)}
	}
	const omitted = "<value omitted>"
	var errs field.ErrorList
	seen := map[string][]int{}
	rest := []byte(bundle)
	for i := 0; ; i++ {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		var problem string
		switch cert, err := x509.ParseCertificate(block.Bytes); {
		case block.Type != "CERTIFICATE":
			problem = fmt.Sprintf("entry %d has bad block type: %v", i, block.Type)
		case len(block.Headers) != 0:
			problem = fmt.Sprintf("entry %d has PEM block headers", i)
		case err != nil:
			problem = fmt.Sprintf("entry %d does not parse as X.509", i)
		case !cert.IsCA:
			problem = fmt.Sprintf("entry %d does not have the CA bit set", i)
		case !cert.BasicConstraintsValid:
			problem = fmt.Sprintf("entry %d has invalid basic constraints", i)
		}
		if problem != "" {
			errs = append(errs, field.Invalid(p, omitted, problem))
			continue
		}
		seen[string(block.Bytes)] = append(seen[string(block.Bytes)], i)
	}
	// After a malformed block, missing or duplicate anchors would only
	// repeat the news.
	if len(errs) > 0 {
		return errs
	}
	if len(seen) == 0 {
		return field.ErrorList{field.Invalid(p, omitted, "at least one trust anchor must be provided")}
	}
	var dups [][]int
	for _, indices := range seen {
		if len(indices) > 1 {
			dups = append(dups, indices)
		}
	}
	sort.Slice(dups, func(i, j int) bool { return dups[i][0] < dups[j][0] })
	for _, indices := range dups {
		errs = append(errs, field.Invalid(p, omitted, fmt.Sprintf("duplicate trust anchor (indices %v)", indices)))
	}
	return errs
}
