// Package encryption encrypts API objects at rest, as kube-apiserver's
// --encryption-provider-config does: an EncryptionConfiguration
// (apiserver.config.k8s.io/v1) lists, per group of resources, providers
// in order. The first provider (with its first key) encrypts every write;
// every provider decrypts what carries its prefix, so values written
// under an older configuration stay readable. The values in etcd have
// upstream's layout, "k8s:enc:aescbc:v1:<key name>:" and the ciphertext,
// so a data directory can move between this apiserver and kube-apiserver.
//
// Providers: identity (plain JSON), aescbc, aesgcm and secretbox. KMS is
// not supported.
//
// Rotating a key (one apiserver, as make up runs it):
//
//  1. Add the new key first in the provider's keys, the old one after it:
//     new writes use the new key, old values still decrypt with the old.
//  2. Restart the apiserver. On start it rewrites every value an older
//     key or provider wrote (etcdstore.Store.RewriteStale), which is what
//     upstream's "kubectl get secrets -A -o json | kubectl replace -f -"
//     does; running that command too is harmless.
//  3. Remove the old key and restart again.
//
// With several apiservers, add the new key second everywhere and restart
// them all before moving it first, so none receives a value it cannot
// read. Encryption is turned off the same way: put identity first, restart
// (every value is rewritten in clear), then remove the key.
package encryption

import (
	"errors"
	"fmt"
	"os"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// The configuration's API group, version and kind.
const (
	APIVersion = "apiserver.config.k8s.io/v1"
	Kind       = "EncryptionConfiguration"
)

// EncryptionConfiguration mirrors k8s.io/apiserver's
// apiserver.config.k8s.io/v1 EncryptionConfiguration, field for field.
type EncryptionConfiguration struct {
	metav1.TypeMeta `json:",inline"`
	// Resources is a list of resources and the providers that encrypt
	// them.
	Resources []ResourceConfiguration `json:"resources"`
}

// ResourceConfiguration names resources and their providers.
type ResourceConfiguration struct {
	// Resources are "resource.group" names: "secrets", "deployments.apps",
	// "*.apps" (every resource of a group), "*." (the core group), "*.*".
	Resources []string `json:"resources"`
	// Providers transform the resources' values; the first one writes.
	Providers []ProviderConfiguration `json:"providers"`
}

// ProviderConfiguration holds exactly one provider.
type ProviderConfiguration struct {
	AESGCM    *AESConfiguration       `json:"aesgcm,omitempty"`
	AESCBC    *AESConfiguration       `json:"aescbc,omitempty"`
	Secretbox *SecretboxConfiguration `json:"secretbox,omitempty"`
	Identity  *IdentityConfiguration  `json:"identity,omitempty"`
	KMS       *KMSConfiguration       `json:"kms,omitempty"`
}

// AESConfiguration holds the keys of an aescbc or aesgcm provider.
type AESConfiguration struct {
	// Keys in order: the first encrypts, all decrypt.
	Keys []Key `json:"keys"`
}

// SecretboxConfiguration holds the keys of a secretbox provider.
type SecretboxConfiguration struct {
	Keys []Key `json:"keys"`
}

// Key is a named, base64-encoded key.
type Key struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

// IdentityConfiguration stores values as they are.
type IdentityConfiguration struct{}

// KMSConfiguration is accepted by the parser only to be refused by name:
// this apiserver has no KMS plugin client.
type KMSConfiguration struct {
	APIVersion string           `json:"apiVersion"`
	Name       string           `json:"name"`
	CacheSize  *int32           `json:"cachesize,omitempty"`
	Endpoint   string           `json:"endpoint"`
	Timeout    *metav1.Duration `json:"timeout,omitempty"`
}

// Config is a parsed and validated EncryptionConfiguration: the
// Transformer of each resource it names.
type Config struct {
	resources map[schema.GroupResource]*Transformer
}

// anyGroupAnyResource is "*.*".
var anyGroupAnyResource = schema.GroupResource{Group: "*", Resource: "*"}

// For returns the Transformer of the resource group/resource, or nil when
// the configuration does not name it (nor its group, nor "*.*"): such a
// resource is stored in clear without any transformation. A nil Config
// names nothing.
func (c *Config) For(group, resource string) *Transformer {
	if c == nil {
		return nil
	}
	if t := c.resources[schema.GroupResource{Group: group, Resource: resource}]; t != nil {
		return t
	}
	if t := c.resources[schema.GroupResource{Group: group, Resource: "*"}]; t != nil {
		return t
	}
	return c.resources[anyGroupAnyResource]
}

// Load reads, validates and builds the configuration at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("error reading encryption provider configuration file %q: %w", path, err)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("encryption provider configuration file %q is empty", path)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("encryption provider configuration file %q: %w", path, err)
	}
	return c, nil
}

// Parse decodes (strictly: an unknown or misspelled field is an error),
// validates and builds an EncryptionConfiguration in YAML or JSON.
func Parse(data []byte) (*Config, error) {
	var ec EncryptionConfiguration
	if err := decodeStrict(data, &ec); err != nil {
		return nil, err
	}
	if ec.APIVersion != APIVersion || ec.Kind != Kind {
		return nil, fmt.Errorf("apiVersion %q, kind %q: want apiVersion %q, kind %q", ec.APIVersion, ec.Kind, APIVersion, Kind)
	}
	if errs := Validate(&ec); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return build(&ec)
}

// decodeStrict decodes YAML or JSON into v, case-sensitively, refusing
// duplicate and unknown fields with errors that give their path.
func decodeStrict(data []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	strictErrs, err := sigsjson.UnmarshalStrict(j, v)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if len(strictErrs) > 0 {
		return fmt.Errorf("decode: %w", errors.Join(strictErrs...))
	}
	return nil
}

// build makes one Transformer per resource entry and maps every resource
// it names to it, refusing a resource an earlier wildcard already covers,
// as upstream does.
func build(ec *EncryptionConfiguration) (*Config, error) {
	c := &Config{resources: map[schema.GroupResource]*Transformer{}}
	for _, rc := range ec.Resources {
		t, err := newTransformer(rc.Providers)
		if err != nil {
			return nil, err
		}
		for _, r := range rc.Resources {
			gr := schema.ParseGroupResource(r)
			anyInGroup := schema.GroupResource{Group: gr.Group, Resource: "*"}
			if _, masked := c.resources[anyInGroup]; masked {
				return nil, fmt.Errorf("resource %q is masked by earlier rule %q", grString(gr), grString(anyInGroup))
			}
			if _, masked := c.resources[anyGroupAnyResource]; masked {
				return nil, fmt.Errorf("resource %q is masked by earlier rule %q", grString(gr), grString(anyGroupAnyResource))
			}
			if _, dup := c.resources[gr]; !dup {
				c.resources[gr] = t
			}
		}
	}
	return c, nil
}

// grString writes gr as the configuration does: "secrets." for a core
// resource, "*." for the whole core group.
func grString(gr schema.GroupResource) string {
	if gr.Group == "" && gr.Resource == "*" {
		return "*."
	}
	return gr.String()
}

// errNoProvider is a provider entry with none of the known providers set.
var errNoProvider = errors.New("provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity")

// Validate checks a configuration as upstream's
// ValidateEncryptionConfiguration does, with its messages, and refuses
// KMS providers.
func Validate(ec *EncryptionConfiguration) field.ErrorList {
	root := field.NewPath("resources")
	var errs field.ErrorList
	if len(ec.Resources) == 0 {
		return append(errs, field.Required(root, "at least one resources is required"))
	}
	for i, rc := range ec.Resources {
		r := root.Index(i).Child("resources")
		p := root.Index(i).Child("providers")
		if len(rc.Resources) == 0 {
			errs = append(errs, field.Required(r, fmt.Sprintf("at least one %s is required", r)))
		}
		errs = append(errs, validateResourceOverlap(rc.Resources, r)...)
		errs = append(errs, validateResourceNames(rc.Resources, r)...)
		if len(rc.Providers) == 0 {
			errs = append(errs, field.Required(p, fmt.Sprintf("at least one %s is required", p)))
		}
		for j, provider := range rc.Providers {
			path := p.Index(j)
			if n := provider.count(); n == 0 {
				errs = append(errs, field.Invalid(path, provider, errNoProvider.Error()))
				continue
			} else if n > 1 {
				errs = append(errs, field.Invalid(path, provider, "more than one provider specified in a single element, should split into different list elements"))
				continue
			}
			switch {
			case provider.KMS != nil:
				errs = append(errs, field.Forbidden(path.Child("kms"), "KMS providers are not supported by this apiserver: use aescbc, aesgcm or secretbox"))
			case provider.AESGCM != nil:
				errs = append(errs, validateKeys(provider.AESGCM.Keys, path.Child("aesgcm").Child("keys"), aesKeySizes)...)
			case provider.AESCBC != nil:
				errs = append(errs, validateKeys(provider.AESCBC.Keys, path.Child("aescbc").Child("keys"), aesKeySizes)...)
			case provider.Secretbox != nil:
				errs = append(errs, validateKeys(provider.Secretbox.Keys, path.Child("secretbox").Child("keys"), secretboxKeySizes)...)
			}
		}
	}
	return errs
}

func (p ProviderConfiguration) count() int {
	n := 0
	for _, set := range []bool{p.AESGCM != nil, p.AESCBC != nil, p.Secretbox != nil, p.Identity != nil, p.KMS != nil} {
		if set {
			n++
		}
	}
	return n
}

// Key sizes in bytes, as upstream accepts them: AES-128, -192 and -256
// for both AES providers, 32 bytes for secretbox.
var (
	aesKeySizes       = []int{16, 24, 32}
	secretboxKeySizes = []int{32}
)

func validateKeys(keys []Key, path *field.Path, sizes []int) field.ErrorList {
	if len(keys) == 0 {
		return field.ErrorList{field.Required(path, "at least one keys is required")}
	}
	var errs field.ErrorList
	for i, k := range keys {
		kp := path.Index(i)
		if k.Name == "" {
			errs = append(errs, field.Required(kp.Child("name"), "name is a mandatory field for a key"))
		}
		if k.Secret == "" {
			errs = append(errs, field.Required(kp.Child("secret"), "secret is a mandatory field for a key"))
			continue
		}
		secret, err := decodeKey(k.Secret)
		if err != nil {
			errs = append(errs, field.Invalid(kp.Child("secret"), "REDACTED", "secrets must be base64 encoded"))
			continue
		}
		if !containsInt(sizes, len(secret)) {
			errs = append(errs, field.Invalid(kp.Child("secret"), "REDACTED", fmt.Sprintf("secret is not of the expected length, got %d, expected one of %v", len(secret), sizes)))
		}
	}
	return errs
}

func containsInt(list []int, n int) bool {
	for _, v := range list {
		if v == n {
			return true
		}
	}
	return false
}

// validateResourceOverlap refuses a resource listed twice, and a wildcard
// beside a resource it covers, in one entry.
func validateResourceOverlap(resources []string, path *field.Path) field.ErrorList {
	if len(resources) < 2 {
		return nil
	}
	grs := make([]schema.GroupResource, len(resources))
	for i, r := range resources {
		grs[i] = schema.ParseGroupResource(r)
	}
	var duplicate, overlap bool
	for i, a := range grs {
		for j, b := range grs {
			switch {
			case i == j:
			case a == b:
				duplicate = true
			case a == anyGroupAnyResource:
				overlap = true
			case a.Group == b.Group && (a.Resource == "*" || b.Resource == "*"):
				overlap = true
			}
		}
	}
	var errs field.ErrorList
	if duplicate {
		errs = append(errs, field.Invalid(path, resources, "the same resource cannot be specified multiple times"))
	}
	if overlap {
		errs = append(errs, field.Invalid(path, resources, "using overlapping resources such as 'secrets' and '*.' in the same resource list is not allowed as they will be masked"))
	}
	return errs
}

// validateResourceNames refuses names upstream refuses.
func validateResourceNames(resources []string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for j, res := range resources {
		rp := path.Index(j)
		gr := schema.ParseGroupResource(res)
		var msg string
		switch {
		case hasUpper(res):
			msg = "resource name should not contain capital letters"
		case res == "*":
			msg = "use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources"
		case res == "apiserveripinfo" || res == "serviceipallocations" || res == "servicenodeportallocations":
			msg = "resources which do not have REST API/s cannot be encrypted"
		case gr.Group == "events.k8s.io":
			msg = "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. Use 'events' instead in the config file"
		case gr.Group == "extensions":
			msg = "'extensions' group has been removed and cannot be used for encryption"
		case gr.Group == "*" && gr.Resource != "*":
			msg = "encrypting the same resource across groups is not supported"
		default:
			continue
		}
		errs = append(errs, field.Invalid(rp, res, msg))
	}
	return errs
}

func hasUpper(s string) bool {
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			return true
		}
	}
	return false
}
