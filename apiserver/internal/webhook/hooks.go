package webhook

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apiserver/pkg/admission/plugin/webhook"
)

// hookCache keeps each configuration's webhook accessors, which hold
// what is costly to make again on every request (parsed selectors, the
// REST client, compiled match conditions), until the configuration
// changes.
type hookCache struct {
	mu      sync.Mutex // guards entries
	entries map[string]hookEntry
}

// hookEntry is one configuration's accessors at one resourceVersion.
type hookEntry struct {
	resourceVersion string
	hooks           []webhook.WebhookAccessor
}

func newHookCache() *hookCache { return &hookCache{entries: map[string]hookEntry{}} }

// mutating returns the mutating webhooks in the order they run: by
// configuration name, then as listed in the configuration, as upstream
// orders them.
func (c *hookCache) mutating(configs []*admissionregistrationv1.MutatingWebhookConfiguration) []webhook.WebhookAccessor {
	configs = slices.Clone(configs)
	slices.SortStableFunc(configs, func(a, b *admissionregistrationv1.MutatingWebhookConfiguration) int {
		return strings.Compare(a.Name, b.Name)
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []webhook.WebhookAccessor
	live := map[string]bool{}
	for _, cfg := range configs {
		key := "mutating/" + cfg.Name
		live[key] = true
		e, ok := c.entries[key]
		if !ok || e.resourceVersion != cfg.ResourceVersion {
			e = hookEntry{resourceVersion: cfg.ResourceVersion}
			uids := uniqueIDs(cfg.Name)
			for i := range cfg.Webhooks {
				e.hooks = append(e.hooks, webhook.NewMutatingWebhookAccessor(uids(cfg.Webhooks[i].Name), cfg.Name, &cfg.Webhooks[i]))
			}
			c.entries[key] = e
		}
		out = append(out, e.hooks...)
	}
	c.forget("mutating/", live)
	return out
}

// validating returns the validating webhooks, ordered as mutating's.
func (c *hookCache) validating(configs []*admissionregistrationv1.ValidatingWebhookConfiguration) []webhook.WebhookAccessor {
	configs = slices.Clone(configs)
	slices.SortStableFunc(configs, func(a, b *admissionregistrationv1.ValidatingWebhookConfiguration) int {
		return strings.Compare(a.Name, b.Name)
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []webhook.WebhookAccessor
	live := map[string]bool{}
	for _, cfg := range configs {
		key := "validating/" + cfg.Name
		live[key] = true
		e, ok := c.entries[key]
		if !ok || e.resourceVersion != cfg.ResourceVersion {
			e = hookEntry{resourceVersion: cfg.ResourceVersion}
			uids := uniqueIDs(cfg.Name)
			for i := range cfg.Webhooks {
				e.hooks = append(e.hooks, webhook.NewValidatingWebhookAccessor(uids(cfg.Webhooks[i].Name), cfg.Name, &cfg.Webhooks[i]))
			}
			c.entries[key] = e
		}
		out = append(out, e.hooks...)
	}
	c.forget("validating/", live)
	return out
}

// forget drops the entries under prefix of configurations that are gone.
// The caller holds mu.
func (c *hookCache) forget(prefix string, live map[string]bool) {
	for key := range c.entries {
		if strings.HasPrefix(key, prefix) && !live[key] {
			delete(c.entries, key)
		}
	}
}

// uniqueIDs names a configuration's webhooks "config/webhook/N", N
// counting repeats of a name (old configurations may repeat one), as
// upstream identifies webhooks for reinvocation.
func uniqueIDs(config string) func(name string) string {
	seen := map[string]int{}
	return func(name string) string {
		id := fmt.Sprintf("%s/%s/%d", config, name, seen[name])
		seen[name]++
		return id
	}
}
