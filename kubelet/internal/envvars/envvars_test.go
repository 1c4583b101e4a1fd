package envvars

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type source struct {
	cms     map[string]*v1.ConfigMap
	secrets map[string]*v1.Secret
}

func (s source) ConfigMap(_ context.Context, _, name string) (*v1.ConfigMap, error) {
	if cm, ok := s.cms[name]; ok {
		return cm, nil
	}
	return nil, fmt.Errorf("not found")
}

func (s source) Secret(_ context.Context, _, name string) (*v1.Secret, error) {
	if sec, ok := s.secrets[name]; ok {
		return sec, nil
	}
	return nil, fmt.Errorf("not found")
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "B": "two"}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	for in, want := range map[string]string{
		"plain":         "plain",
		"$(A)-$(B)":     "1-two",
		"$$(A)":         "$(A)",
		"$(MISSING)":    "$(MISSING)",
		"cost $5":       "cost $5",
		"open $(A":      "open $(A",
		"$(A)$(A)$$$$x": "11$$x",
	} {
		if got := Expand(in, lookup); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolve(t *testing.T) {
	src := source{
		cms:     map[string]*v1.ConfigMap{"cfg": {Data: map[string]string{"k": "cm-value", "x": "y"}}},
		secrets: map[string]*v1.Secret{"sec": {Data: map[string][]byte{"p": []byte("pw")}}},
	}
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "prod", UID: "uid-1", Labels: map[string]string{"app": "a"}},
		Spec:       v1.PodSpec{NodeName: "node-1"},
	}
	c := &v1.Container{
		Name:      "c",
		Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceMemory: resource.MustParse("3Mi")}},
		EnvFrom:   []v1.EnvFromSource{{Prefix: "P_", ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}}}},
		Env: []v1.EnvVar{
			{Name: "CM", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}, Key: "k"}}},
			{Name: "SEC", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "sec"}, Key: "p"}}},
			{Name: "NAME", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "APP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "MEM", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "requests.memory", Divisor: resource.MustParse("1Mi")}}},
			{Name: "OPT", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "gone"}, Key: "k", Optional: ptr(true)}}},
			{Name: "URL", Value: "http://$(IP):80/$(NAME)"},
			{Name: "P_x", Value: "overridden"},
		},
	}
	got, err := Resolve(context.Background(), src, pod, c, "10.0.0.7", "192.168.0.1")
	if err != nil {
		t.Fatal(err)
	}
	want := []Var{
		{"P_k", "cm-value"}, {"P_x", "overridden"}, {"CM", "cm-value"}, {"SEC", "pw"}, {"NAME", "web"}, {"APP", "a"},
		{"IP", "10.0.0.7"}, {"MEM", "3"}, {"URL", "http://10.0.0.7:80/web"},
	}
	// envFrom order over a map is not fixed: compare as sets of the first two.
	if len(got) != len(want) || !reflect.DeepEqual(asMap(got), asMap(want)) {
		t.Errorf("got %v\nwant %v", got, want)
	}

	c.Env = append(c.Env, v1.EnvVar{Name: "BAD", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "sec"}, Key: "nope"}}})
	if _, err := Resolve(context.Background(), src, pod, c, "", ""); err == nil {
		t.Error("a missing secret key resolved")
	}
}

func asMap(vs []Var) map[string]string {
	m := map[string]string{}
	for _, v := range vs {
		m[v.Name] = v.Value
	}
	return m
}

func ptr[T any](v T) *T { return &v }
