package create

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNewQuota(t *testing.T) {
	cases := []struct {
		name, hard, scopes string
		want               corev1.ResourceQuotaSpec
		wantErr            string
	}{
		{"hard limits", "cpu=1,memory=1G,pods=2", "",
			corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"cpu": resource.MustParse("1"), "memory": resource.MustParse("1G"), "pods": resource.MustParse("2")}}, ""},
		{"with scopes", "pods=100", "BestEffort,NotTerminating",
			corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"pods": resource.MustParse("100")}, Scopes: []corev1.ResourceQuotaScope{"BestEffort", "NotTerminating"}}, ""},
		{"nothing", "", "", corev1.ResourceQuotaSpec{}, ""},
		{"a pair without a value", "cpu", "", corev1.ResourceQuotaSpec{}, "Invalid argument syntax cpu, expected <resource>=<value>"},
		{"a bad quantity", "cpu=lots", "", corev1.ResourceQuotaSpec{}, "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"},
		{"an empty scope", "pods=1", "BestEffort,", corev1.ResourceQuotaSpec{}, `invalid resource quota scope ""`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := newQuota("q", tc.hard, tc.scopes)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q"}, Spec: tc.want}
			if !equality.Semantic.DeepEqual(q, want) {
				t.Fatalf("got %+v, want %+v", q, want)
			}
		})
	}
}
