package printers

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/apiresource"
)

// testNow is the instant the tests render ages against.
func testNow() time.Time { return time.Date(2030, time.June, 1, 12, 0, 0, 0, time.UTC) }

// ago is a timestamp d before testNow.
func ago(d time.Duration) metav1.Time { return metav1.NewTime(testNow().Add(-d)) }

func agoPtr(d time.Duration) *metav1.Time { t := ago(d); return &t }

func ptr[T any](v T) *T { return &v }

func checkCells(t *testing.T, got, want []interface{}) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cells\n got %#v\nwant %#v", got, want)
	}
}

// TestTables checks every kind's columns against Kubernetes' (names and
// priorities) and that Row fills exactly one cell per column.
func TestTables(t *testing.T) {
	tests := []struct {
		name    string
		table   *apiresource.Table
		obj     runtime.Object
		wrong   runtime.Object
		columns []string // priority 0
		wide    []string // priority 1
	}{
		{"namespace", Namespace(), &corev1.Namespace{}, &corev1.Pod{},
			[]string{"Name", "Status", "Age"}, nil},
		{"node", Node(), &corev1.Node{}, &corev1.Pod{},
			[]string{"Name", "Status", "Roles", "Age", "Version"},
			[]string{"Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"}},
		{"pod", Pod(), &corev1.Pod{}, &corev1.Node{},
			[]string{"Name", "Ready", "Status", "Restarts", "Age"},
			[]string{"IP", "Node", "Nominated Node", "Readiness Gates"}},
		{"service", Service(), &corev1.Service{}, &corev1.Pod{},
			[]string{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"}, []string{"Selector"}},
		{"endpoints", Endpoints(), &corev1.Endpoints{}, &corev1.Pod{},
			[]string{"Name", "Endpoints", "Age"}, nil},
		{"configmap", ConfigMap(), &corev1.ConfigMap{}, &corev1.Secret{},
			[]string{"Name", "Data", "Age"}, nil},
		{"secret", Secret(), &corev1.Secret{}, &corev1.ConfigMap{},
			[]string{"Name", "Type", "Data", "Age"}, nil},
		{"event", Event(), &corev1.Event{}, &corev1.Pod{},
			[]string{"Last Seen", "Type", "Reason", "Object", "Message"},
			[]string{"Subobject", "Source", "First Seen", "Count", "Name"}},
		{"serviceaccount", ServiceAccount(), &corev1.ServiceAccount{}, &corev1.Pod{},
			[]string{"Name", "Secrets", "Age"}, nil},
		{"persistentvolume", PersistentVolume(), &corev1.PersistentVolume{}, &corev1.PersistentVolumeClaim{},
			[]string{"Name", "Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim", "StorageClass", "VolumeAttributesClass", "Reason", "Age"},
			[]string{"VolumeMode"}},
		{"persistentvolumeclaim", PersistentVolumeClaim(), &corev1.PersistentVolumeClaim{}, &corev1.PersistentVolume{},
			[]string{"Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass", "VolumeAttributesClass", "Age"},
			[]string{"VolumeMode"}},
		{"deployment", Deployment(), &appsv1.Deployment{}, &appsv1.ReplicaSet{},
			[]string{"Name", "Ready", "Up-to-date", "Available", "Age"}, []string{"Containers", "Images", "Selector"}},
		{"replicaset", ReplicaSet(), &appsv1.ReplicaSet{}, &appsv1.Deployment{},
			[]string{"Name", "Desired", "Current", "Ready", "Age"}, []string{"Containers", "Images", "Selector"}},
		{"replicationcontroller", ReplicationController(), &corev1.ReplicationController{}, &appsv1.ReplicaSet{},
			[]string{"Name", "Desired", "Current", "Ready", "Age"}, []string{"Containers", "Images", "Selector"}},
		{"daemonset", DaemonSet(), &appsv1.DaemonSet{}, &appsv1.Deployment{},
			[]string{"Name", "Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector", "Age"},
			[]string{"Containers", "Images", "Selector"}},
		{"statefulset", StatefulSet(), &appsv1.StatefulSet{}, &appsv1.Deployment{},
			[]string{"Name", "Ready", "Age"}, []string{"Containers", "Images"}},
		{"job", Job(), &batchv1.Job{}, &batchv1.CronJob{},
			[]string{"Name", "Status", "Completions", "Duration", "Age"}, []string{"Containers", "Images", "Selector"}},
		{"cronjob", CronJob(), &batchv1.CronJob{}, &batchv1.Job{},
			[]string{"Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age"},
			[]string{"Containers", "Images", "Selector"}},
		{"lease", Lease(), &coordinationv1.Lease{}, &corev1.Pod{},
			[]string{"Name", "Holder", "Age"}, nil},
		{"endpointslice", EndpointSlice(), &discoveryv1.EndpointSlice{}, &corev1.Endpoints{},
			[]string{"Name", "AddressType", "Ports", "Endpoints", "Age"}, nil},
		{"horizontalpodautoscaler", HorizontalPodAutoscaler(), &autoscalingv2.HorizontalPodAutoscaler{}, &appsv1.Deployment{},
			[]string{"Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"}, nil},
		{"ingress", Ingress(), &networkingv1.Ingress{}, &corev1.Service{},
			[]string{"Name", "Class", "Hosts", "Address", "Ports", "Age"}, nil},
		{"storageclass", StorageClass(), &storagev1.StorageClass{}, &corev1.PersistentVolume{},
			[]string{"Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode", "AllowVolumeExpansion", "Age"}, nil},
		{"certificatesigningrequest", CertificateSigningRequest(), &certificatesv1.CertificateSigningRequest{}, &corev1.Secret{},
			[]string{"Name", "Age", "SignerName", "Requestor", "RequestedDuration", "Condition"}, nil},
		{"priorityclass", PriorityClass(), &schedulingv1.PriorityClass{}, &corev1.Pod{},
			[]string{"Name", "Value", "Global-Default", "Age", "PreemptionPolicy"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.table == nil {
				t.Fatal("no table")
			}
			var columns, wide []string
			names := 0
			for _, c := range tt.table.Columns {
				switch c.Priority {
				case 0:
					columns = append(columns, c.Name)
				case 1:
					wide = append(wide, c.Name)
				default:
					t.Errorf("column %q: priority %d", c.Name, c.Priority)
				}
				if c.Type == "" || c.Description == "" {
					t.Errorf("column %q: type %q, description %q", c.Name, c.Type, c.Description)
				}
				if c.Format == "name" {
					names++
					if c.Name != "Name" || c.Type != "string" {
						t.Errorf("name-format column %q of type %q", c.Name, c.Type)
					}
				}
			}
			if !reflect.DeepEqual(columns, tt.columns) || !reflect.DeepEqual(wide, tt.wide) {
				t.Errorf("columns %q wide %q, want %q wide %q", columns, wide, tt.columns, tt.wide)
			}
			if names != 1 {
				t.Errorf("%d columns of format name, want 1", names)
			}
			if tt.name != "event" && tt.table.Columns[0].Format != "name" {
				t.Errorf("first column %q is not the name", tt.table.Columns[0].Name)
			}

			cells, err := tt.table.Row(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			if len(cells) != len(tt.table.Columns) {
				t.Fatalf("%d cells for %d columns: %#v", len(cells), len(tt.table.Columns), cells)
			}
			for i, c := range cells {
				switch c.(type) {
				case string, int64, bool:
				default:
					t.Errorf("cell %q is a %T", tt.table.Columns[i].Name, c)
				}
			}

			if _, err := tt.table.Row(tt.wrong); err == nil {
				t.Errorf("Row(%T) did not fail", tt.wrong)
			}
		})
	}
}

// TestRowMeasuresAgesNow checks that the exported Row renders ages against
// the current time, and a zero creation time as "<unknown>".
func TestRowMeasuresAgesNow(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "a", CreationTimestamp: metav1.NewTime(time.Now().Add(-3 * time.Hour)),
	}}
	cells, err := Namespace().Row(ns)
	if err != nil {
		t.Fatal(err)
	}
	if cells[2] != "3h" {
		t.Errorf("age %v, want 3h", cells[2])
	}
	cells, _ = Namespace().Row(&corev1.Namespace{})
	if cells[2] != "<unknown>" {
		t.Errorf("zero age %v, want <unknown>", cells[2])
	}
}

func TestListWithMore(t *testing.T) {
	tests := []struct {
		name  string
		items []string
		want  string
	}{
		{"empty is unset", nil, "<unset>"},
		{"three are all shown", []string{"a", "b", "c"}, "a,b,c"},
		{"beyond three are counted", []string{"a", "b", "c", "d", "e"}, "a,b,c + 2 more..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := listWithMore(tt.items); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
