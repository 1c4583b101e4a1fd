package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	resourcev1 "k8s.io/api/resource/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// typedClient is what client-go's typed clients of a kind offer.
type typedClient[T runtime.Object, L runtime.Object] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// lifecycle creates obj, finds it by label in a list, patches a label
// on it (and, when statusPatch is set, its status through /status),
// deletes it and checks it is gone: what the conformance suite does with
// every kind. It returns the object as created.
func lifecycle[T runtime.Object, L runtime.Object](t *testing.T, c typedClient[T, L], obj T, statusPatch string) T {
	t.Helper()
	m, _ := meta.Accessor(obj)
	m.SetLabels(map[string]string{"surface": "test"})
	created, err := c.Create(ctx(t), obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	cm, _ := meta.Accessor(created)
	name := cm.GetName()
	list, err := c.List(ctx(t), metav1.ListOptions{LabelSelector: "surface=test"})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if items, _ := meta.ExtractList(list); len(items) != 1 {
		t.Fatalf("list found %d objects, want 1", len(items))
	}
	patched, err := c.Patch(ctx(t), name, types.MergePatchType, []byte(`{"metadata":{"labels":{"patched":"yes"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("patch: %v", err)
	}
	if pm, _ := meta.Accessor(patched); pm.GetLabels()["patched"] != "yes" {
		t.Fatalf("patched labels %v", pm.GetLabels())
	}
	if statusPatch != "" {
		if _, err := c.Patch(ctx(t), name, types.MergePatchType, []byte(statusPatch), metav1.PatchOptions{}, "status"); err != nil {
			t.Fatalf("status patch: %v", err)
		}
	}
	if err := c.Delete(ctx(t), name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.Get(ctx(t), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: %v", err)
	}
	return created
}

func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if !apierrors.IsInvalid(err) || !contains(err.Error(), field) {
		t.Fatalf("want 422 naming %s, got %v", field, err)
	}
}

func TestPodTemplatesOverHTTP(t *testing.T) {
	c := start(t)
	pts := c.client.CoreV1().PodTemplates("default")
	created := lifecycle(t, pts, &corev1.PodTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx"}}}},
	}, "")
	if created.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways || created.Generation != 1 {
		t.Errorf("created template: restartPolicy %q generation %d", created.Template.Spec.RestartPolicy, created.Generation)
	}
	_, err := pts.Create(ctx(t), &corev1.PodTemplate{ObjectMeta: metav1.ObjectMeta{Name: "empty"}}, metav1.CreateOptions{})
	wantInvalid(t, err, "template.spec.containers")

	// `kubectl get podtemplates` columns.
	again := created.DeepCopy()
	again.ObjectMeta = metav1.ObjectMeta{Name: "web"}
	if _, err := pts.Create(ctx(t), again, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := doWith(t, c.http, c.Server.URL(), http.MethodGet, "/api/v1/namespaces/default/podtemplates", "", nil,
		http.Header{"Accept": {"application/json;as=Table;v=v1;g=meta.k8s.io"}})
	var table metav1.Table
	if err := json.Unmarshal(r.body, &table); err != nil || r.code != http.StatusOK {
		t.Fatalf("table: %d %v %s", r.code, err, r.body)
	}
	var columns []string
	for _, col := range table.ColumnDefinitions {
		columns = append(columns, col.Name)
	}
	if got := strings.Join(columns, ","); got != "Name,Containers,Images,Pod Labels" || len(table.Rows) != 1 {
		t.Fatalf("columns %s, %d rows", got, len(table.Rows))
	}
	if cells := table.Rows[0].Cells; cells[1] != "nginx" || cells[3] != "app=web" {
		t.Errorf("row %v", cells)
	}
}

func TestRuntimeClassesOverHTTP(t *testing.T) {
	c := start(t)
	rcs := c.client.NodeV1().RuntimeClasses()
	lifecycle(t, rcs, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "gvisor"}, Handler: "runsc",
		Overhead: &nodev1.Overhead{PodFixed: corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("100m")}}}, "")
	rc, err := rcs.Create(ctx(t), &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "kata"}, Handler: "kata"}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc.Handler = "other"
	_, err = rcs.Update(ctx(t), rc, metav1.UpdateOptions{})
	wantInvalid(t, err, "handler")
}

func TestNetworkingKindsOverHTTP(t *testing.T) {
	c := start(t)
	net := c.client.NetworkingV1()
	lifecycle(t, net.IngressClasses(), &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "nginx"},
		Spec: networkingv1.IngressClassSpec{Controller: "example.com/ingress-nginx"}}, "")
	lifecycle(t, net.ServiceCIDRs(), &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "extra"},
		Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.200.0.0/24"}}},
		`{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Test","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`)
	lifecycle(t, net.IPAddresses(), &networkingv1.IPAddress{ObjectMeta: metav1.ObjectMeta{Name: "10.200.0.5"},
		Spec: networkingv1.IPAddressSpec{ParentRef: &networkingv1.ParentReference{Resource: "services", Namespace: "default", Name: "web"}}}, "")
	_, err := net.IPAddresses().Create(ctx(t), &networkingv1.IPAddress{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: networkingv1.IPAddressSpec{ParentRef: &networkingv1.ParentReference{Resource: "services", Name: "web"}}}, metav1.CreateOptions{})
	wantInvalid(t, err, "metadata.name")

	// The apiserver keeps the default ServiceCIDR of its service range,
	// Ready.
	eventually(t, 30*time.Second, "default ServiceCIDR ready", func() (bool, error) {
		sc, err := net.ServiceCIDRs().Get(ctx(t), "kubernetes", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ready := meta.IsStatusConditionTrue(sc.Status.Conditions, networkingv1.ServiceCIDRConditionReady)
		return ready && len(sc.Spec.CIDRs) == 1 && sc.Spec.CIDRs[0] == c.Cfg.ServiceClusterIPRange, nil
	})
}

func TestStorageKindsOverHTTP(t *testing.T) {
	c := start(t)
	st := c.client.StorageV1()
	driver := lifecycle(t, st.CSIDrivers(), &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: "hostpath.csi.k8s.io"}}, "")
	if driver.Spec.AttachRequired == nil || !*driver.Spec.AttachRequired || len(driver.Spec.VolumeLifecycleModes) != 1 {
		t.Errorf("CSIDriver not defaulted: %+v", driver.Spec)
	}
	lifecycle(t, st.CSINodes(), &storagev1.CSINode{ObjectMeta: metav1.ObjectMeta{Name: "node-a"},
		Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{Name: "hostpath.csi.k8s.io", NodeID: "node-a"}}}}, "")
	lifecycle(t, st.VolumeAttachments(), &storagev1.VolumeAttachment{ObjectMeta: metav1.ObjectMeta{Name: "csi-1"},
		Spec: storagev1.VolumeAttachmentSpec{Attacher: "hostpath.csi.k8s.io", NodeName: "node-a",
			Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To("pv-1")}}},
		`{"status":{"attached":true}}`)
	q := apiresource.MustParse("10Gi")
	lifecycle(t, st.CSIStorageCapacities("default"), &storagev1.CSIStorageCapacity{ObjectMeta: metav1.ObjectMeta{Name: "cap-1"},
		StorageClassName: "fast", Capacity: &q}, "")
	lifecycle(t, st.VolumeAttributesClasses(), &storagev1.VolumeAttributesClass{ObjectMeta: metav1.ObjectMeta{Name: "gold"},
		DriverName: "hostpath.csi.k8s.io", Parameters: map[string]string{"iops": "1000"}}, "")

	va, err := st.VolumeAttachments().Create(ctx(t), &storagev1.VolumeAttachment{ObjectMeta: metav1.ObjectMeta{Name: "csi-2"},
		Spec: storagev1.VolumeAttachmentSpec{Attacher: "hostpath.csi.k8s.io", NodeName: "node-a",
			Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To("pv-2")}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	va.Spec.NodeName = "node-b"
	_, err = st.VolumeAttachments().Update(ctx(t), va, metav1.UpdateOptions{})
	wantInvalid(t, err, "spec")
}

func TestCertificatesKindsOverHTTP(t *testing.T) {
	c := start(t)
	certs := c.client.CertificatesV1()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "root"}, NotBefore: time.Now(),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	lifecycle(t, certs.ClusterTrustBundles(), &certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: "example.com:signer:roots"},
		Spec: certificatesv1.ClusterTrustBundleSpec{SignerName: "example.com/signer", TrustBundle: ca}}, "")
	_, err = certs.ClusterTrustBundles().Create(ctx(t), &certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: "roots"},
		Spec: certificatesv1.ClusterTrustBundleSpec{SignerName: "example.com/signer", TrustBundle: ca}}, metav1.CreateOptions{})
	wantInvalid(t, err, "metadata.name")

	stub, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	lifecycle(t, certs.PodCertificateRequests("default"), &certificatesv1.PodCertificateRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "pcr-"},
		Spec: certificatesv1.PodCertificateRequestSpec{SignerName: "example.com/pods", PodName: "web", PodUID: "pod-uid",
			ServiceAccountName: "default", ServiceAccountUID: "sa-uid", NodeName: "node-a", NodeUID: "node-uid",
			MaxExpirationSeconds: ptr.To[int32](86400), StubPKCS10Request: stub},
	}, `{"status":{"conditions":[{"type":"Denied","status":"True","reason":"Test","message":"no","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`)
}

func TestResourceKindsOverHTTP(t *testing.T) {
	c := start(t)
	res := c.client.ResourceV1()
	lifecycle(t, res.DeviceClasses(), &resourcev1.DeviceClass{ObjectMeta: metav1.ObjectMeta{GenerateName: "class-"},
		Spec: resourcev1.DeviceClassSpec{Selectors: []resourcev1.DeviceSelector{{CEL: &resourcev1.CELDeviceSelector{Expression: "false"}}}}}, "")
	lifecycle(t, res.DeviceTaintRules(), &resourcev1.DeviceTaintRule{ObjectMeta: metav1.ObjectMeta{Name: "maintenance"},
		Spec: resourcev1.DeviceTaintRuleSpec{Taint: resourcev1.DeviceTaint{Key: "testing", Effect: resourcev1.DeviceTaintEffectNone}}},
		`{"status":{"conditions":[{"type":"Testing","status":"True","reason":"E2E","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`)
	claimSpec := resourcev1.ResourceClaimSpec{Devices: resourcev1.DeviceClaim{Requests: []resourcev1.DeviceRequest{{
		Name: "req-0", Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: "dra.example.com"}}}}}
	claim := lifecycle(t, res.ResourceClaims("default"), &resourcev1.ResourceClaim{ObjectMeta: metav1.ObjectMeta{Name: "gpu"}, Spec: claimSpec},
		`{"status":{"allocation":{}}}`)
	if e := claim.Spec.Devices.Requests[0].Exactly; e.AllocationMode != resourcev1.DeviceAllocationModeExactCount || e.Count != 1 {
		t.Errorf("claim request not defaulted: %+v", e)
	}
	lifecycle(t, res.ResourceClaimTemplates("default"), &resourcev1.ResourceClaimTemplate{ObjectMeta: metav1.ObjectMeta{Name: "gpu"},
		Spec: resourcev1.ResourceClaimTemplateSpec{Spec: claimSpec}}, "")
	lifecycle(t, res.ResourceSlices(), &resourcev1.ResourceSlice{ObjectMeta: metav1.ObjectMeta{Name: "slice"},
		Spec: resourcev1.ResourceSliceSpec{Driver: "dra.example.com", NodeName: ptr.To("no-such-node"),
			Pool: resourcev1.ResourcePool{Name: "cluster", Generation: 1, ResourceSliceCount: 1}}}, "")

	_, err := res.ResourceSlices().Create(ctx(t), &resourcev1.ResourceSlice{ObjectMeta: metav1.ObjectMeta{Name: "nowhere"},
		Spec: resourcev1.ResourceSliceSpec{Driver: "dra.example.com", Pool: resourcev1.ResourcePool{Name: "p", ResourceSliceCount: 1}}}, metav1.CreateOptions{})
	wantInvalid(t, err, "spec")
	slices, err := res.ResourceSlices().List(ctx(t), metav1.ListOptions{FieldSelector: "spec.nodeName=no-such-node"})
	if err != nil || len(slices.Items) != 0 {
		t.Fatalf("field-selected list after delete: %v %v", slices, err)
	}
}
