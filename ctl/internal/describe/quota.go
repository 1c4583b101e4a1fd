package describe

import (
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// ResourceQuota describes a quota as kubectl does: its scopes, each
// explained, and a used/hard row per limited resource.
func ResourceQuota(out io.Writer, q *corev1.ResourceQuota, now time.Time) error {
	w := newWriter(out, now)
	w.line(l0, "Name:\t%s\n", q.Name)
	w.line(l0, "Namespace:\t%s\n", q.Namespace)
	if scopes := sortedScopes(q.Spec.Scopes); len(scopes) > 0 {
		w.line(l0, "Scopes:\t%s\n", strings.Join(scopes, ", "))
		for _, s := range scopes {
			if help := scopeHelp(corev1.ResourceQuotaScope(s)); help != "" {
				w.line(l0, " * %s\n", help)
			}
		}
	}
	w.line(l0, "Resource\tUsed\tHard\n")
	w.line(l0, "--------\t----\t----\n")
	for _, name := range sortedResourceNames(q.Status.Hard) {
		hard, used := q.Status.Hard[name], q.Status.Used[name]
		// Used in hard's format: 0 of 1Gi reads "0", not "0" of another
		// base, as kubectl shows it.
		if hard.Format != used.Format {
			used = *resource.NewQuantity(used.Value(), hard.Format)
		}
		w.line(l0, "%s\t%s\t%s\n", name, used.String(), hard.String())
	}
	return w.flush()
}

// LimitRange describes a LimitRange as kubectl does: a row per type and
// resource.
func LimitRange(out io.Writer, lr *corev1.LimitRange, now time.Time) error {
	w := newWriter(out, now)
	w.line(l0, "Name:\t%s\n", lr.Name)
	w.line(l0, "Namespace:\t%s\n", lr.Namespace)
	w.line(l0, "Type\tResource\tMin\tMax\tDefault Request\tDefault Limit\tMax Limit/Request Ratio\n")
	w.line(l0, "----\t--------\t---\t---\t---------------\t-------------\t-----------------------\n")
	w.limitRangeRows(lr.Spec, "")
	return w.flush()
}

// quotasSection is describe namespace's summary of the namespace's
// quotas.
func (w *writer) quotasSection(quotas []corev1.ResourceQuota) {
	if len(quotas) == 0 {
		w.line(l0, "No resource quota.\n")
		return
	}
	sorted := append([]corev1.ResourceQuota(nil), quotas...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	w.line(l0, "Resource Quotas\n")
	for _, q := range sorted {
		w.line(l1, "Name:\t%s\n", q.Name)
		if scopes := sortedScopes(q.Spec.Scopes); len(scopes) > 0 {
			w.line(l1, "Scopes:\t%s\n", strings.Join(scopes, ", "))
			for _, s := range scopes {
				if help := scopeHelp(corev1.ResourceQuotaScope(s)); help != "" {
					w.line(l1, "* %s\n", help)
				}
			}
		}
		w.line(l1, "Resource\tUsed\tHard\n")
		w.line(l1, "--------\t---\t---\n")
		for _, name := range sortedResourceNames(q.Status.Hard) {
			hard, used := q.Status.Hard[name], q.Status.Used[name]
			w.line(l1, "%s\t%s\t%s\n", name, used.String(), hard.String())
		}
	}
}

// limitRangesSection is describe namespace's summary of the namespace's
// LimitRanges.
func (w *writer) limitRangesSection(ranges []corev1.LimitRange) {
	if len(ranges) == 0 {
		w.line(l0, "No LimitRange resource.\n")
		return
	}
	w.line(l0, "Resource Limits\n Type\tResource\tMin\tMax\tDefault Request\tDefault Limit\tMax Limit/Request Ratio\n")
	w.line(l0, " ----\t--------\t---\t---\t---------------\t-------------\t-----------------------\n")
	for _, lr := range ranges {
		w.limitRangeRows(lr.Spec, " ")
	}
}

// limitRangeRows writes a row per item and resource, "-" for what the
// item does not set; resources in order (kubectl's order is a map's).
func (w *writer) limitRangeRows(spec corev1.LimitRangeSpec, prefix string) {
	for _, item := range spec.Limits {
		names := corev1.ResourceList{}
		for _, l := range []corev1.ResourceList{item.Max, item.Min, item.Default, item.DefaultRequest, item.MaxLimitRequestRatio} {
			for k := range l {
				names[k] = resource.Quantity{}
			}
		}
		value := func(l corev1.ResourceList, k corev1.ResourceName) string {
			if q, ok := l[k]; ok {
				return q.String()
			}
			return "-"
		}
		for _, k := range sortedResourceNames(names) {
			w.line(l0, "%s%s\t%s\t%s\t%s\t%s\t%s\t%s\n", prefix, item.Type, k,
				value(item.Min, k), value(item.Max, k), value(item.DefaultRequest, k), value(item.Default, k), value(item.MaxLimitRequestRatio, k))
		}
	}
}

func sortedScopes(scopes []corev1.ResourceQuotaScope) []string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = string(s)
	}
	sort.Strings(out)
	return out
}

func sortedResourceNames(l corev1.ResourceList) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(l))
	for k := range l {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// scopeHelp is kubectl's explanation of a quota scope.
func scopeHelp(scope corev1.ResourceQuotaScope) string {
	switch scope {
	case corev1.ResourceQuotaScopeTerminating:
		return "Matches all pods that have an active deadline. These pods have a limited lifespan on a node before being actively terminated by the system."
	case corev1.ResourceQuotaScopeNotTerminating:
		return "Matches all pods that do not have an active deadline. These pods usually include long running pods whose container command is not expected to terminate."
	case corev1.ResourceQuotaScopeBestEffort:
		return "Matches all pods that do not have resource requirements set. These pods have a best effort quality of service."
	case corev1.ResourceQuotaScopeNotBestEffort:
		return "Matches all pods that have at least one resource requirement set. These pods have a burstable or guaranteed quality of service."
	}
	return ""
}
