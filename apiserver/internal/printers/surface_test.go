package printers

import (
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	resourcev1 "k8s.io/api/resource/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/apiresource"
)

// TestSurfaceTablesRowWidth: every row has one cell per column.
func TestSurfaceTablesRowWidth(t *testing.T) {
	q := resource.MustParse("1Gi")
	for _, tt := range []struct {
		name  string
		table *apiresource.Table
		obj   runtime.Object
	}{
		{"PodTemplate", PodTemplate(), &corev1.PodTemplate{ObjectMeta: meta("t")}},
		{"RuntimeClass", RuntimeClass(), &nodev1.RuntimeClass{ObjectMeta: meta("rc"), Handler: "runc"}},
		{"IngressClass", IngressClass(), &networkingv1.IngressClass{ObjectMeta: meta("nginx")}},
		{"ServiceCIDR", ServiceCIDR(), &networkingv1.ServiceCIDR{ObjectMeta: meta("kubernetes")}},
		{"IPAddress", IPAddress(), &networkingv1.IPAddress{ObjectMeta: meta("10.96.0.1")}},
		{"CSIDriver", CSIDriver(), &storagev1.CSIDriver{ObjectMeta: meta("d")}},
		{"CSINode", CSINode(), &storagev1.CSINode{ObjectMeta: meta("n")}},
		{"VolumeAttachment", VolumeAttachment(), &storagev1.VolumeAttachment{ObjectMeta: meta("va")}},
		{"CSIStorageCapacity", CSIStorageCapacity(), &storagev1.CSIStorageCapacity{ObjectMeta: meta("c"), Capacity: &q}},
		{"VolumeAttributesClass", VolumeAttributesClass(), &storagev1.VolumeAttributesClass{ObjectMeta: meta("gold")}},
		{"ClusterTrustBundle", ClusterTrustBundle(), &certificatesv1.ClusterTrustBundle{ObjectMeta: meta("b")}},
		{"PodCertificateRequest", PodCertificateRequest(), &certificatesv1.PodCertificateRequest{ObjectMeta: meta("r")}},
		{"DeviceClass", DeviceClass(), &resourcev1.DeviceClass{ObjectMeta: meta("gpu")}},
		{"ResourceClaim", ResourceClaim(), &resourcev1.ResourceClaim{ObjectMeta: meta("c")}},
		{"ResourceClaimTemplate", ResourceClaimTemplate(), &resourcev1.ResourceClaimTemplate{ObjectMeta: meta("t")}},
		{"ResourceSlice", ResourceSlice(), &resourcev1.ResourceSlice{ObjectMeta: meta("s")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cells, err := tt.table.Row(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			if len(cells) != len(tt.table.Columns) {
				t.Errorf("%d cells for %d columns: %v", len(cells), len(tt.table.Columns), cells)
			}
		})
	}
}

func TestSurfaceCells(t *testing.T) {
	now := testNow()
	group := "k8s.example.com"
	defaultClass := meta("nginx")
	defaultClass.Annotations = map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}
	deleting := meta("gone")
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	tests := []struct {
		name string
		got  []interface{}
		want []interface{}
	}{
		{"pod template lists containers and pod labels",
			podTemplateCells(&corev1.PodTemplate{ObjectMeta: meta("web"), Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1"}, {Name: "log", Image: "busybox"}}},
			}}, now),
			[]interface{}{"web", "nginx,log", "nginx:1,busybox", "app=web"}},
		{"default ingress class is marked, parameters named",
			ingressClassCells(&networkingv1.IngressClass{ObjectMeta: defaultClass, Spec: networkingv1.IngressClassSpec{
				Controller: "example.com/nginx", Parameters: &networkingv1.IngressClassParametersReference{APIGroup: &group, Kind: "Params", Name: "lb"}}}, now),
			[]interface{}{"nginx (default)", "example.com/nginx", "Params.k8s.example.com/lb", "10d"}},
		{"ingress class without parameters",
			ingressClassCells(&networkingv1.IngressClass{ObjectMeta: meta("plain"), Spec: networkingv1.IngressClassSpec{Controller: "example.com/x"}}, now),
			[]interface{}{"plain", "example.com/x", "<none>", "10d"}},
		{"IP address names its parent",
			ipAddressCells(&networkingv1.IPAddress{ObjectMeta: meta("10.96.0.1"), Spec: networkingv1.IPAddressSpec{
				ParentRef: &networkingv1.ParentReference{Resource: "services", Namespace: "default", Name: "kubernetes"}}}, now),
			[]interface{}{"10.96.0.1", "services/default/kubernetes"}},
		{"CSI driver prints unset flags as their defaults",
			csiDriverCells(&storagev1.CSIDriver{ObjectMeta: meta("d")}, now),
			[]interface{}{"d", true, false, false, "<unset>", false, "<none>", "10d"}},
		{"CSI driver with token audiences and modes",
			csiDriverCells(&storagev1.CSIDriver{ObjectMeta: meta("d"), Spec: storagev1.CSIDriverSpec{
				TokenRequests:        []storagev1.TokenRequest{{Audience: "a"}, {Audience: "b"}},
				VolumeLifecycleModes: []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent, storagev1.VolumeLifecycleEphemeral}}}, now),
			[]interface{}{"d", true, false, false, "a,b", false, "Persistent,Ephemeral", "10d"}},
		{"issued pod certificate request",
			podCertificateRequestCells(&certificatesv1.PodCertificateRequest{ObjectMeta: meta("r"),
				Spec:   certificatesv1.PodCertificateRequestSpec{PodName: "web", ServiceAccountName: "default", NodeName: "n1", SignerName: "example.com/s"},
				Status: certificatesv1.PodCertificateRequestStatus{Conditions: []metav1.Condition{{Type: certificatesv1.PodCertificateRequestConditionTypeIssued}}}}, now),
			[]interface{}{"r", "web", "default", "n1", "example.com/s", "Issued", "<none>"}},
		{"pending claim", []interface{}{resourceClaimState(&resourcev1.ResourceClaim{ObjectMeta: meta("c")})}, []interface{}{"pending"}},
		{"reserved claim", []interface{}{resourceClaimState(&resourcev1.ResourceClaim{ObjectMeta: meta("c"), Status: resourcev1.ResourceClaimStatus{
			Allocation: &resourcev1.AllocationResult{}, ReservedFor: []resourcev1.ResourceClaimConsumerReference{{Name: "p"}}}})},
			[]interface{}{"allocated,reserved"}},
		{"claim being deleted", []interface{}{resourceClaimState(&resourcev1.ResourceClaim{ObjectMeta: deleting})}, []interface{}{"deleted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, tt.got, tt.want)
		})
	}
}
