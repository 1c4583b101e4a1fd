package admission

import (
	"context"
	"math/rand"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// runtimeClasses is an in-memory RuntimeClasses: the real one reads
// storage, exercised by the integration tests.
type runtimeClasses map[string]*nodev1.RuntimeClass

func (c runtimeClasses) Get(_ context.Context, name string) (*nodev1.RuntimeClass, error) {
	if rc, ok := c[name]; ok {
		return rc, nil
	}
	return nil, apierrors.NewNotFound(nodev1.Resource("runtimeclasses"), name)
}

// failingClasses fails every read as storage might.
type failingClasses struct{}

func (failingClasses) Get(context.Context, string) (*nodev1.RuntimeClass, error) {
	return nil, apierrors.NewServiceUnavailable("etcd is down")
}

func overhead(cpu, memory string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}
}

func noSchedule(key, value string) corev1.Toleration {
	return corev1.Toleration{Key: key, Operator: corev1.TolerationOpEqual, Value: value, Effect: corev1.TaintEffectNoSchedule}
}

// TestRuntimeClassAdmit is the mutating phase, with the cases of
// Kubernetes' TestSetOverhead, TestSetScheduling and TestAdmit.
func TestRuntimeClassAdmit(t *testing.T) {
	classes := runtimeClasses{
		"plain":     {ObjectMeta: metav1.ObjectMeta{Name: "plain"}, Handler: "bar"},
		"overhead":  {ObjectMeta: metav1.ObjectMeta{Name: "overhead"}, Handler: "bar", Overhead: &nodev1.Overhead{PodFixed: overhead("100m", "1")}},
		"empty-fix": {ObjectMeta: metav1.ObjectMeta{Name: "empty-fix"}, Handler: "bar", Overhead: &nodev1.Overhead{}},
		"conflict": {ObjectMeta: metav1.ObjectMeta{Name: "conflict"}, Handler: "bar", Scheduling: &nodev1.Scheduling{
			NodeSelector: map[string]string{"foo": "conflict", "zone": "a"},
		}},
		"select": {ObjectMeta: metav1.ObjectMeta{Name: "select"}, Handler: "bar", Scheduling: &nodev1.Scheduling{
			NodeSelector: map[string]string{"foo": "bar", "fizz": "buzz"},
		}},
		"tolerate": {ObjectMeta: metav1.ObjectMeta{Name: "tolerate"}, Handler: "bar", Scheduling: &nodev1.Scheduling{
			Tolerations: []corev1.Toleration{noSchedule("foo", "bar"), noSchedule("fizz", "buzz")},
		}},
	}
	tests := []struct {
		name      string
		spec      corev1.PodSpec
		want      corev1.PodSpec
		forbidden string
	}{
		{name: "no runtime class: untouched",
			spec: corev1.PodSpec{NodeSelector: map[string]string{"a": "b"}},
			want: corev1.PodSpec{NodeSelector: map[string]string{"a": "b"}}},
		{name: "missing class",
			spec:      corev1.PodSpec{RuntimeClassName: ptr.To("nope")},
			forbidden: `pods "web" is forbidden: pod rejected: RuntimeClass "nope" not found`},
		{name: "class without overhead or scheduling",
			spec: corev1.PodSpec{RuntimeClassName: ptr.To("plain"), NodeSelector: map[string]string{"foo": "bar"}},
			want: corev1.PodSpec{RuntimeClassName: ptr.To("plain"), NodeSelector: map[string]string{"foo": "bar"}}},
		{name: "overhead set",
			spec: corev1.PodSpec{RuntimeClassName: ptr.To("overhead")},
			want: corev1.PodSpec{RuntimeClassName: ptr.To("overhead"), Overhead: overhead("100m", "1")}},
		{name: "same overhead already set",
			spec: corev1.PodSpec{RuntimeClassName: ptr.To("overhead"), Overhead: overhead("0.1", "1")},
			want: corev1.PodSpec{RuntimeClassName: ptr.To("overhead"), Overhead: overhead("100m", "1")}},
		{name: "differing overhead already set",
			spec:      corev1.PodSpec{RuntimeClassName: ptr.To("overhead"), Overhead: overhead("10", "10G")},
			forbidden: `pods "web" is forbidden: pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead`},
		{name: "overhead without podFixed sets none",
			spec: corev1.PodSpec{RuntimeClassName: ptr.To("empty-fix")},
			want: corev1.PodSpec{RuntimeClassName: ptr.To("empty-fix")}},
		{name: "conflicting node selector",
			spec:      corev1.PodSpec{RuntimeClassName: ptr.To("conflict"), NodeSelector: map[string]string{"foo": "bar", "zone": "b"}},
			forbidden: `pods "web" is forbidden: conflict: runtimeClass.scheduling.nodeSelector[foo] = conflict; pod.spec.nodeSelector[foo] = bar`},
		{name: "no node selector takes the class's",
			spec: corev1.PodSpec{RuntimeClassName: ptr.To("select")},
			want: corev1.PodSpec{RuntimeClassName: ptr.To("select"), NodeSelector: map[string]string{"foo": "bar", "fizz": "buzz"}}},
		{name: "node selectors merge",
			spec: corev1.PodSpec{RuntimeClassName: ptr.To("select"), NodeSelector: map[string]string{"foo": "bar", "disk": "ssd"}},
			want: corev1.PodSpec{RuntimeClassName: ptr.To("select"), NodeSelector: map[string]string{"foo": "bar", "fizz": "buzz", "disk": "ssd"}}},
		{name: "tolerations appended without duplicates",
			spec: corev1.PodSpec{RuntimeClassName: ptr.To("tolerate"), Tolerations: []corev1.Toleration{noSchedule("foo", "bar")}},
			want: corev1.PodSpec{RuntimeClassName: ptr.To("tolerate"), Tolerations: []corev1.Toleration{noSchedule("foo", "bar"), noSchedule("fizz", "buzz")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: tt.spec}
			err := (&RuntimeClass{Classes: classes}).AdmitCreate(context.Background(), pod)
			if tt.forbidden != "" {
				if !apierrors.IsForbidden(err) || err.Error() != tt.forbidden {
					t.Fatalf("err = %v, want Forbidden %q", err, tt.forbidden)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !apiequality.Semantic.DeepEqual(pod.Spec, tt.want) {
				t.Errorf("spec = %+v\nwant %+v", pod.Spec, tt.want)
			}
		})
	}
}

// TestRuntimeClassAdmitCopies: the pod gets copies of the class's maps,
// so later changes to the pod (by other plugins) do not change the class.
func TestRuntimeClassAdmitCopies(t *testing.T) {
	class := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "rc"}, Handler: "bar",
		Overhead:   &nodev1.Overhead{PodFixed: overhead("10m", "1Mi")},
		Scheduling: &nodev1.Scheduling{NodeSelector: map[string]string{"foo": "bar"}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{RuntimeClassName: ptr.To("rc")}}
	if err := (&RuntimeClass{Classes: runtimeClasses{"rc": class}}).AdmitCreate(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	pod.Spec.NodeSelector["other"] = "x"
	pod.Spec.Overhead[corev1.ResourceCPU] = resource.MustParse("1")
	if len(class.Scheduling.NodeSelector) != 1 || class.Overhead.PodFixed.Cpu().String() != "10m" {
		t.Errorf("the class changed with the pod: %+v %+v", class.Scheduling.NodeSelector, class.Overhead.PodFixed)
	}
}

// TestRuntimeClassValidate is the validating phase, with the cases of
// Kubernetes' TestValidate and TestValidateOverhead.
func TestRuntimeClassValidate(t *testing.T) {
	classes := runtimeClasses{
		"plain":    {ObjectMeta: metav1.ObjectMeta{Name: "plain"}, Handler: "bar"},
		"overhead": {ObjectMeta: metav1.ObjectMeta{Name: "overhead"}, Handler: "bar", Overhead: &nodev1.Overhead{PodFixed: overhead("100m", "1")}},
	}
	const (
		mismatch = "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"
		without  = "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"
	)
	tests := []struct {
		name      string
		spec      corev1.PodSpec
		forbidden string
	}{
		{"class overhead, none in pod", corev1.PodSpec{RuntimeClassName: ptr.To("overhead")}, mismatch},
		{"no class overhead, overhead in pod", corev1.PodSpec{RuntimeClassName: ptr.To("plain"), Overhead: overhead("100m", "1")}, without},
		{"no class, overhead in pod", corev1.PodSpec{Overhead: overhead("100m", "1")}, without},
		{"no class, empty overhead in pod", corev1.PodSpec{Overhead: corev1.ResourceList{}}, without},
		{"non-matching overheads", corev1.PodSpec{RuntimeClassName: ptr.To("overhead"), Overhead: overhead("10", "10G")}, mismatch},
		{"matching overheads", corev1.PodSpec{RuntimeClassName: ptr.To("overhead"), Overhead: overhead("100m", "1")}, ""},
		{"no class, no overhead", corev1.PodSpec{}, ""},
		{"missing class", corev1.PodSpec{RuntimeClassName: ptr.To("gone")}, `pod rejected: RuntimeClass "gone" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "web-"}, Spec: tt.spec}
			err := (&RuntimeClass{Classes: classes}).ValidateCreate(context.Background(), pod)
			if tt.forbidden == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			want := `pods "web-" is forbidden: ` + tt.forbidden
			if !apierrors.IsForbidden(err) || err.Error() != want {
				t.Fatalf("err = %v, want Forbidden %q", err, want)
			}
		})
	}
}

// TestRuntimeClassReadError: a failed read is the pod's error as it is,
// not a rejection.
func TestRuntimeClassReadError(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{RuntimeClassName: ptr.To("rc")}}
	r := &RuntimeClass{Classes: failingClasses{}}
	for name, err := range map[string]error{"admit": r.AdmitCreate(context.Background(), pod), "validate": r.ValidateCreate(context.Background(), pod)} {
		if !apierrors.IsServiceUnavailable(err) {
			t.Errorf("%s: err = %v, want the read's ServiceUnavailable", name, err)
		}
	}
	// Objects other than pods pass.
	if err := r.AdmitCreate(context.Background(), &corev1.Binding{}); err != nil {
		t.Errorf("a Binding: %v", err)
	}
}

// tolerations are Kubernetes' pkg/util/tolerations test tolerations.
var tolerations = map[string]corev1.Toleration{
	"all":               {Operator: corev1.TolerationOpExists},
	"all-nosched":       {Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	"all-noexec":        {Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	"foo":               {Key: "foo", Operator: corev1.TolerationOpExists},
	"foo-bar":           {Key: "foo", Operator: corev1.TolerationOpEqual, Value: "bar"},
	"foo-nosched":       {Key: "foo", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	"foo-bar-nosched":   noSchedule("foo", "bar"),
	"foo-baz-nosched":   noSchedule("foo", "baz"),
	"faz-nosched":       {Key: "faz", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	"faz-baz-nosched":   noSchedule("faz", "baz"),
	"foo-prefnosched":   {Key: "foo", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectPreferNoSchedule},
	"foo-noexec":        {Key: "foo", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	"foo-bar-noexec":    {Key: "foo", Operator: corev1.TolerationOpEqual, Value: "bar", Effect: corev1.TaintEffectNoExecute},
	"foo-noexec-10":     {Key: "foo", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](10)},
	"foo-noexec-0":      {Key: "foo", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](0)},
	"foo-bar-noexec-10": {Key: "foo", Operator: corev1.TolerationOpEqual, Value: "bar", Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](10)},
}

func namedTolerations(names []string) []corev1.Toleration {
	var out []corev1.Toleration
	for _, n := range names {
		out = append(out, tolerations[n])
	}
	return out
}

// TestTolerationCovers has the cases of Kubernetes' TestIsSuperset: each
// toleration covers itself and exactly those listed.
func TestTolerationCovers(t *testing.T) {
	covers := map[string][]string{
		"all":               {"all-nosched", "all-noexec", "foo", "foo-bar", "foo-nosched", "foo-bar-nosched", "foo-baz-nosched", "faz-nosched", "faz-baz-nosched", "foo-prefnosched", "foo-noexec", "foo-bar-noexec", "foo-noexec-10", "foo-noexec-0", "foo-bar-noexec-10"},
		"all-nosched":       {"foo-nosched", "foo-bar-nosched", "foo-baz-nosched", "faz-nosched", "faz-baz-nosched"},
		"all-noexec":        {"foo-noexec", "foo-bar-noexec", "foo-noexec-10", "foo-noexec-0", "foo-bar-noexec-10"},
		"foo":               {"foo-bar", "foo-nosched", "foo-bar-nosched", "foo-baz-nosched", "foo-prefnosched", "foo-noexec", "foo-bar-noexec", "foo-noexec-10", "foo-noexec-0", "foo-bar-noexec-10"},
		"foo-bar":           {"foo-bar-nosched", "foo-bar-noexec", "foo-bar-noexec-10"},
		"foo-nosched":       {"foo-bar-nosched", "foo-baz-nosched"},
		"foo-bar-nosched":   {},
		"faz-nosched":       {"faz-baz-nosched"},
		"faz-baz-nosched":   {},
		"foo-prefnosched":   {},
		"foo-noexec":        {"foo-bar-noexec", "foo-noexec-10", "foo-noexec-0", "foo-bar-noexec-10"},
		"foo-bar-noexec":    {"foo-bar-noexec-10"},
		"foo-noexec-10":     {"foo-noexec-0", "foo-bar-noexec-10"},
		"foo-noexec-0":      {},
		"foo-bar-noexec-10": {},
	}
	for super, subs := range covers {
		for name := range tolerations {
			want := name == super || slices.Contains(subs, name)
			if got := tolerationCovers(tolerations[super], tolerations[name]); got != want {
				t.Errorf("%s covers %s = %v, want %v", super, name, got, want)
			}
		}
	}
	// Lt and Gt are covered only by an equal toleration or a broader
	// Exists.
	lt := corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpLt, Value: "5"}
	if !tolerationCovers(lt, lt) || tolerationCovers(lt, corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpLt, Value: "3"}) {
		t.Error("Lt coverage wrong")
	}
	if !tolerationCovers(corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists}, lt) {
		t.Error("Exists on the key does not cover Lt")
	}
}

// TestMergeTolerations has the cases of Kubernetes' TestMergeTolerations.
func TestMergeTolerations(t *testing.T) {
	tests := []struct {
		name     string
		a, b     []string
		expected []string
	}{
		{"disjoint", []string{"foo-bar-nosched", "faz-baz-nosched", "foo-noexec-10"}, []string{"foo-prefnosched", "foo-baz-nosched"},
			[]string{"foo-bar-nosched", "faz-baz-nosched", "foo-noexec-10", "foo-prefnosched", "foo-baz-nosched"}},
		{"duplicate", []string{"foo-bar-nosched", "faz-baz-nosched", "foo-noexec-10"}, []string{"foo-bar-nosched", "faz-baz-nosched", "foo-noexec-10"},
			[]string{"foo-bar-nosched", "faz-baz-nosched", "foo-noexec-10"}},
		{"merge redundant", []string{"foo-bar-nosched", "foo-baz-nosched"}, []string{"foo-nosched", "faz-baz-nosched"},
			[]string{"foo-nosched", "faz-baz-nosched"}},
		{"merge all", []string{"foo-bar-nosched", "foo-baz-nosched", "foo-noexec-10"}, []string{"all"}, []string{"all"}},
		{"merge into all", []string{"all"}, []string{"foo-bar-nosched", "foo-baz-nosched", "foo-noexec-10"}, []string{"all"}},
		{"both empty", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := namedTolerations(tt.a)
			before := slices.Clone(a)
			got := mergeTolerations(slices.Clip(a), namedTolerations(tt.b))
			if want := namedTolerations(tt.expected); !apiequality.Semantic.DeepEqual(got, want) {
				t.Errorf("merged = %+v\nwant %+v", got, want)
			}
			if !apiequality.Semantic.DeepEqual(a, before) {
				t.Errorf("the first list changed: %+v", a)
			}
		})
	}
}

// TestMergeTolerationsFuzzed is the property of Kubernetes' TestFuzzed:
// every toleration of either list is covered by one of the merge. The
// seed is fixed so a failure repeats.
func TestMergeTolerationsFuzzed(t *testing.T) {
	r := rand.New(rand.NewSource(1234))
	effects := []corev1.TaintEffect{"", corev1.TaintEffectNoExecute, corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule}
	gen := func() corev1.Toleration {
		if r.Float32() < 0.01 {
			return tolerations["all"]
		}
		// A small key and value space, so tolerations collide.
		tol := corev1.Toleration{Effect: effects[r.Intn(len(effects))], Key: strings.Repeat("a", r.Intn(6)+1)}
		if r.Float32() < 0.3 {
			tol.Operator = corev1.TolerationOpExists
		} else {
			tol.Operator, tol.Value = corev1.TolerationOpEqual, strings.Repeat("b", r.Intn(6)+1)
		}
		if tol.Effect == corev1.TaintEffectNoExecute && r.Float32() < 0.5 {
			tol.TolerationSeconds = ptr.To(r.Int63n(10))
		}
		return tol
	}
	genList := func() []corev1.Toleration {
		var out []corev1.Toleration
		for n := r.Intn(10); len(out) < n; {
			out = append(out, gen())
		}
		return out
	}
	for i := 0; i < 1000; i++ {
		a, b := genList(), genList()
		merged := mergeTolerations(a, b)
		for _, tol := range slices.Concat(a, b) {
			if !slices.ContainsFunc(merged, func(m corev1.Toleration) bool { return tolerationCovers(m, tol) }) {
				t.Fatalf("%+v is not covered by the merge %+v of %+v and %+v", tol, merged, a, b)
			}
		}
	}
}
