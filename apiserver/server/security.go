package server

import (
	"fmt"
	"path/filepath"

	"github.com/gin-gonic/gin"

	"coracle.dev/apiserver/internal/audit"
	"coracle.dev/apiserver/internal/authz"
	"coracle.dev/apiserver/internal/encryption"
	"coracle.dev/apiserver/internal/endpoints"
	"coracle.dev/apiserver/internal/etcdstore"
)

// encryptionConfigFile is where the apiserver keeps the key it made for
// Secrets when none was configured.
const encryptionConfigFile = "encryption-config.yaml"

// encryption loads --encryption-provider-config, or with the embedded
// etcd and no flag DATA_DIR/encryption-config.yaml, created on first
// start with a random aescbc key for Secrets, so that nothing in the etcd
// data holds a Secret in clear. With external etcd and no flag, values
// are stored in clear, as kube-apiserver stores them: each apiserver
// making its own key could not read the others' Secrets.
func (s *Server) encryption() (etcdstore.Transformers, error) {
	var cfg *encryption.Config
	var err error
	switch {
	case s.cfg.EncryptionProviderConfig != "":
		if cfg, err = encryption.Load(s.cfg.EncryptionProviderConfig); err != nil {
			return nil, fmt.Errorf("--encryption-provider-config: %w", err)
		}
	case len(s.cfg.EtcdServers) == 0:
		if cfg, err = encryption.LoadOrCreate(filepath.Join(s.cfg.DataDir, encryptionConfigFile)); err != nil {
			return nil, fmt.Errorf("encryption config: %w", err)
		}
	default:
		s.log.Warn("no --encryption-provider-config: Secrets are stored in clear in etcd")
		return nil, nil
	}
	ts := etcdstore.Transformers{}
	for _, d := range s.registry.Stored() {
		if d.Storage != nil {
			// A second view of another kind's objects (events.k8s.io
			// Events of core ones) shares their prefix and so their
			// transformer: it must not replace theirs with the one its
			// own group matches ("*.*" besides "events").
			continue
		}
		if t := cfg.For(d.Group, d.Resource); t != nil {
			ts[d.KeyPrefix()] = t
		}
	}
	return ts, nil
}

// openAudit opens the audit log, nil when --audit-policy-file or
// --audit-log-path is missing (no audit), as kube-apiserver.
func (s *Server) openAudit() error {
	a := s.cfg.AuditConfig
	l, err := audit.New(audit.Options{
		PolicyFile: a.AuditPolicyFile, Path: a.AuditLogPath, MaxAge: a.AuditLogMaxAge, MaxBackups: a.AuditLogMaxBackups,
		MaxSize: a.AuditLogMaxSize, Format: a.AuditLogFormat, Log: s.log.Named("audit"),
	})
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	s.audit = l
	return nil
}

// ctxParsedRequest holds a request's parsed path, which the audit log and
// the authorizer both read.
const ctxParsedRequest = "coracle.parsedRequest"

// parsedRequest parses c's request path once per request.
func parsedRequest(c *gin.Context) endpoints.RequestInfo {
	if v, ok := c.Get(ctxParsedRequest); ok {
		return v.(endpoints.RequestInfo)
	}
	info := endpoints.NewRequestInfo(c.Request)
	c.Set(ctxParsedRequest, info)
	return info
}

// requestAttributes are what a request asks, for the authorizer and the
// audit log; the user is read each time, since impersonation replaces it
// between the two.
func requestAttributes(c *gin.Context) authz.Attributes {
	user, _ := UserFrom(c)
	info := parsedRequest(c)
	return authz.Attributes{
		User: user, Verb: info.Verb, ResourceRequest: info.IsResourceRequest, Path: info.Path,
		APIGroup: info.Group, APIVersion: info.Version, Namespace: info.Namespace,
		Resource: info.Resource, Subresource: info.Subresource, Name: info.Name,
	}
}
