package webhook

import (
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/admission"
)

// Names the mutating plugins keep their reinvocation state under in a
// request's reinvocation context, as kube-apiserver's plugins do.
const (
	mutatingWebhookPlugin = "MutatingAdmissionWebhook"
	mutatingPolicyPlugin  = "MutatingAdmissionPolicy"
)

// reinvocation is one mutating plugin's memory across the two passes of
// the mutating phase: which of its hooks (webhooks by uid, policy
// invocations by policy, binding and parameter) asked to see later
// changes, and which must therefore run again in the second pass. A hook
// with reinvocationPolicy IfNeeded goes to invoked when it runs; any
// change to the object after that moves invoked into reinvoke.
type reinvocation[K comparable] struct {
	// lastOutput is the object as this plugin last left it: if another
	// plugin changed it since, every hook invoked so far must see that.
	lastOutput runtime.Object
	invoked    sets.Set[K]
	reinvoke   sets.Set[K]
}

// reinvocationOf returns plugin's state in the request's reinvocation
// context, made on first use.
func reinvocationOf[K comparable](rc admission.ReinvocationContext, plugin string) *reinvocation[K] {
	if v, ok := rc.Value(plugin).(*reinvocation[K]); ok {
		return v
	}
	r := &reinvocation[K]{invoked: sets.New[K](), reinvoke: sets.New[K]()}
	rc.SetValue(plugin, r)
	return r
}

// begin starts one pass of the plugin over obj: in the second pass, a
// change made by another plugin since this one last ran makes every hook
// invoked so far run again.
func (r *reinvocation[K]) begin(rc admission.ReinvocationContext, obj runtime.Object) {
	if rc.IsReinvoke() && !apiequality.Semantic.DeepEqual(r.lastOutput, obj) {
		r.changed()
	}
}

// end records the object as the pass leaves it.
func (r *reinvocation[K]) end(obj runtime.Object) {
	if obj == nil {
		r.lastOutput = nil
		return
	}
	r.lastOutput = obj.DeepCopyObject()
}

// skip reports whether hook is not to run in this pass: in the second
// pass only the hooks asked to run again do.
func (r *reinvocation[K]) skip(rc admission.ReinvocationContext, hook K) bool {
	return rc.IsReinvoke() && !r.reinvoke.Has(hook)
}

// changed records that the object changed: the IfNeeded hooks invoked
// before must run again.
func (r *reinvocation[K]) changed() {
	r.reinvoke = r.reinvoke.Union(r.invoked)
	r.invoked = sets.New[K]()
}

// ran records that hook ran; ifNeeded says it wants to see later changes.
func (r *reinvocation[K]) ran(hook K, ifNeeded bool) {
	if ifNeeded {
		r.invoked.Insert(hook)
	}
}
