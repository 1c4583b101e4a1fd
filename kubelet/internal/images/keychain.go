package images

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "k8s.io/api/core/v1"
)

// dockerConfig is the content of a kubernetes.io/dockerconfigjson Secret
// (or, with no "auths" wrapper, of a legacy .dockercfg one).
type dockerConfig struct {
	Auths map[string]dockerAuth `json:"auths"`
}

type dockerAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Auth     string `json:"auth"`
}

// keychain resolves a registry to the credentials pull secrets give it.
type keychain map[string]authn.AuthConfig

// KeychainFromSecrets returns the credentials in imagePullSecrets.
func KeychainFromSecrets(secrets []v1.Secret) (authn.Keychain, error) {
	kc := keychain{}
	for _, s := range secrets {
		var auths map[string]dockerAuth
		switch s.Type {
		case v1.SecretTypeDockerConfigJson:
			var cfg dockerConfig
			if err := json.Unmarshal(s.Data[v1.DockerConfigJsonKey], &cfg); err != nil {
				return nil, fmt.Errorf("pull secret %s: %w", s.Name, err)
			}
			auths = cfg.Auths
		case v1.SecretTypeDockercfg:
			if err := json.Unmarshal(s.Data[v1.DockerConfigKey], &auths); err != nil {
				return nil, fmt.Errorf("pull secret %s: %w", s.Name, err)
			}
		default:
			continue
		}
		for host, a := range auths {
			cfg := authn.AuthConfig{Username: a.Username, Password: a.Password}
			if a.Auth != "" && cfg.Username == "" {
				dec, err := base64.StdEncoding.DecodeString(a.Auth)
				if err != nil {
					return nil, fmt.Errorf("pull secret %s: auth for %s: %w", s.Name, host, err)
				}
				cfg.Username, cfg.Password, _ = strings.Cut(string(dec), ":")
			}
			kc[registryKey(host)] = cfg
		}
	}
	return kc, nil
}

// Resolve implements authn.Keychain.
func (kc keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if cfg, ok := kc[registryKey(r.RegistryStr())]; ok {
		return authn.FromConfig(cfg), nil
	}
	return authn.Anonymous, nil
}

// registryKey reduces "https://index.docker.io/v1/" and "docker.io" alike
// to a registry host.
func registryKey(host string) string {
	host = strings.TrimPrefix(strings.TrimPrefix(host, "https://"), "http://")
	host, _, _ = strings.Cut(host, "/")
	return normalizeRegistry(host)
}
