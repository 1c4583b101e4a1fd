package templatehash

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestHash(t *testing.T) {
	template := func(image string) *corev1.PodTemplateSpec {
		return &corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
		}
	}
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"same template, same hash", Hash(template("nginx:1"), nil), Hash(template("nginx:1"), nil), true},
		{"another template, another hash", Hash(template("nginx:1"), nil), Hash(template("nginx:2"), nil), false},
		{"a collision count changes the hash", Hash(template("nginx:1"), nil), Hash(template("nginx:1"), ptr.To[int32](1)), false},
		{"each collision count its own hash", Hash(template("nginx:1"), ptr.To[int32](1)), Hash(template("nginx:1"), ptr.To[int32](2)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.a == tt.b) != tt.same {
				t.Errorf("hashes %q and %q: same = %v, want %v", tt.a, tt.b, tt.a == tt.b, tt.same)
			}
		})
	}
}
