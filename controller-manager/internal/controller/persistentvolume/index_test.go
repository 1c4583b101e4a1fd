package persistentvolume

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// The cases below are Kubernetes' (pkg/controller/volume/persistentvolume
// index_test.go): the same volumes, claims and expected matches.

const (
	classSilver = "silver"
	classGold   = "gold"
	classLarge  = "large"
	classWait   = "wait"
)

var (
	rwo  = corev1.ReadWriteOnce
	rox  = corev1.ReadOnlyMany
	rwx  = corev1.ReadWriteMany
	rwop = corev1.ReadWriteOncePod
)

func modes(m ...corev1.PersistentVolumeAccessMode) []corev1.PersistentVolumeAccessMode { return m }

// testPV is an Available filesystem volume; uid names it in the tests.
func testPV(uid, name, size string, m []corev1.PersistentVolumeAccessMode, mod func(*corev1.PersistentVolume)) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + name}},
			AccessModes:            m,
			VolumeMode:             ptr.To(corev1.PersistentVolumeFilesystem),
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
	}
	if mod != nil {
		mod(pv)
	}
	return pv
}

func bound(uid types.UID) func(*corev1.PersistentVolume) {
	return func(pv *corev1.PersistentVolume) {
		pv.Spec.ClaimRef = &corev1.ObjectReference{UID: uid}
		pv.Status.Phase = corev1.VolumeBound
	}
}

func withClass(class string) func(*corev1.PersistentVolume) {
	return func(pv *corev1.PersistentVolume) { pv.Spec.StorageClassName = class }
}

func nodeAffinity(key, value string) *corev1.VolumeNodeAffinity {
	return &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: corev1.NodeSelectorOpIn, Values: []string{value}}},
	}}}}
}

// testVolumes are Kubernetes' createTestVolumes, deliberately out of
// order.
func testVolumes() []*corev1.PersistentVolume {
	local := func(class string, value string, phase corev1.PersistentVolumePhase) func(*corev1.PersistentVolume) {
		return func(pv *corev1.PersistentVolume) {
			pv.Spec.StorageClassName = class
			if value != "" {
				pv.Spec.NodeAffinity = nodeAffinity("key1", value)
			}
			pv.Status.Phase = phase
		}
	}
	return []*corev1.PersistentVolume{
		testPV("gce-pd-10", "gce003", "10G", modes(rwo, rox), nil),
		testPV("gce-pd-20", "gce004", "20G", modes(rwo, rox), bound("def456")),
		testPV("nfs-5", "nfs002", "5G", modes(rwo, rox, rwx), nil),
		testPV("gce-pd-1", "gce001", "1G", modes(rwo, rox), bound("abc123")),
		testPV("nfs-10", "nfs003", "10G", modes(rwo, rox, rwx), nil),
		testPV("gce-pd-5", "gce002", "5G", modes(rwo, rox), nil),
		testPV("nfs-1", "nfs001", "1G", modes(rwo, rox, rwx), nil),
		testPV("gce-pd-2", "gce0022", "20000G", modes(rwo), func(pv *corev1.PersistentVolume) {
			pv.Labels = map[string]string{"should-exist": "true"}
		}),
		testPV("gce-pd-silver1", "gce0023", "10000G", modes(rwo), func(pv *corev1.PersistentVolume) {
			pv.Labels = map[string]string{"should-exist": "true"}
			pv.Spec.StorageClassName = classSilver
		}),
		testPV("gce-pd-silver2", "gce0024", "100G", modes(rwo), withClass(classSilver)),
		testPV("gce-pd-gold", "gce0025", "50G", modes(rwo), withClass(classGold)),
		testPV("local-pd-very-large", "local001", "200E", modes(rwo, rox, rwx), withClass(classLarge)),
		testPV("local-pd-extremely-large", "local002", "800E", modes(rwo, rox, rwx), withClass(classLarge)),
		testPV("affinity-pv", "affinity001", "100G", modes(rwo, rox), local(classWait, "value1", corev1.VolumeAvailable)),
		testPV("affinity-pv2", "affinity002", "150G", modes(rwo, rox), local(classWait, "value1", corev1.VolumeAvailable)),
		testPV("affinity-prebound", "affinity003", "100G", modes(rwo, rox), func(pv *corev1.PersistentVolume) {
			local(classWait, "value1", corev1.VolumeAvailable)(pv)
			pv.Spec.ClaimRef = &corev1.ObjectReference{Name: "claim02", Namespace: "myns"}
		}),
		testPV("affinity-pv4-pending", "affinity004-pending", "200G", modes(rwo, rox), local(classWait, "value4", corev1.VolumePending)),
		testPV("affinity-pv4-failed", "affinity004-failed", "200G", modes(rwo, rox), local(classWait, "value4", corev1.VolumeFailed)),
		testPV("affinity-pv4-released", "affinity004-released", "200G", modes(rwo, rox), local(classWait, "value4", corev1.VolumeReleased)),
		testPV("affinity-pv4-empty", "affinity004-empty", "200G", modes(rwo, rox), local(classWait, "value4", "")),
		testPV("gce-pd-vac-silver1", "gce-pd-vac-silver1", "100G", modes(rwo, rox), func(pv *corev1.PersistentVolume) {
			pv.Spec.VolumeAttributesClassName = ptr.To(classSilver)
		}),
	}
}

// testPVC is Kubernetes' makePVC: claim01 in myns, RWO+ROX, filesystem.
func testPVC(size string, mod func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "claim01", Namespace: "myns", UID: "claim01-uid"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: modes(rox, rwo),
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
			VolumeMode:  ptr.To(corev1.PersistentVolumeFilesystem),
		},
	}
	if mod != nil {
		mod(pvc)
	}
	return pvc
}

func indexOf(pvs ...*corev1.PersistentVolume) volumeIndex {
	x := newVolumeIndex()
	for _, pv := range pvs {
		if err := x.store.Add(pv); err != nil {
			panic(err)
		}
	}
	return x
}

func TestFindBestMatch(t *testing.T) {
	selector := func(key string) func(*corev1.PersistentVolumeClaim) {
		return func(pvc *corev1.PersistentVolumeClaim) {
			pvc.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{key: "true"}}
		}
	}
	all := func(mods ...func(*corev1.PersistentVolumeClaim)) func(*corev1.PersistentVolumeClaim) {
		return func(pvc *corev1.PersistentVolumeClaim) {
			for _, m := range mods {
				m(pvc)
			}
		}
	}
	accessModes := func(m ...corev1.PersistentVolumeAccessMode) func(*corev1.PersistentVolumeClaim) {
		return func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.AccessModes = m }
	}
	class := func(c string) func(*corev1.PersistentVolumeClaim) {
		return func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.StorageClassName = ptr.To(c) }
	}
	vac := func(c string) func(*corev1.PersistentVolumeClaim) {
		return func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.VolumeAttributesClassName = ptr.To(c) }
	}
	tests := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		want  string // the matched volume's UID; "" for none
	}{
		{"smallest volume of the closest access modes", testPVC("8G", nil), "gce-pd-10"},
		{"more access modes asked for need a volume with them", testPVC("5G", accessModes(rox, rwo, rwx)), "nfs-5"},
		{"a bound volume is skipped", testPVC("1G", nil), "gce-pd-5"},
		{"nothing large enough", testPVC("999G", nil), ""},
		{"no volume with the selector's labels", testPVC("999G", selector("should-not-exist")), ""},
		{"selector matches but too small", testPVC("20000G", all(selector("should-exist"), accessModes(rox, rwo))), ""},
		{"selector and size", testPVC("20000G", all(selector("should-exist"), accessModes(rwo))), "gce-pd-2"},
		{"empty volume attributes class is none", testPVC("8G", vac("")), "gce-pd-10"},
		{"volume attributes class", testPVC("1G", vac(classSilver)), "gce-pd-vac-silver1"},
		{"no volume of the attributes class", testPVC("1G", vac("non-existing")), ""},
		{"class and selector", testPVC("1G", all(selector("should-exist"), accessModes(rwo), class(classSilver))), "gce-pd-silver1"},
		{"class, smallest of it", testPVC("1G", all(accessModes(rwo), class(classSilver))), "gce-pd-silver2"},
		{"very large", testPVC("1E", all(accessModes(rwo), class(classLarge))), "local-pd-very-large"},
		{"extremely large, exactly", testPVC("800E", all(accessModes(rwo), class(classLarge))), "local-pd-extremely-large"},
		{"way too large", testPVC("950E", all(accessModes(rwo), class(classLarge))), ""},
		{"large enough are only volumes not Available", testPVC("160G", all(accessModes(rwo), class(classWait))), ""},
		{"node affinity is the scheduler's: the controller ignores it", testPVC("150G", all(accessModes(rwo), class(classWait))), "affinity-pv2"},
	}
	x := indexOf(testVolumes()...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := x.findBestMatch(tt.claim, false)
			if err != nil {
				t.Fatalf("findBestMatch: %v", err)
			}
			if gotUID := uidOf(got); gotUID != tt.want {
				t.Errorf("matched %q, want %q", gotUID, tt.want)
			}
		})
	}
}

func uidOf(pv *corev1.PersistentVolume) string {
	if pv == nil {
		return ""
	}
	return string(pv.UID)
}

func TestFindBestMatchSkipsBoundVolumes(t *testing.T) {
	x := indexOf(
		testPV("gce-pd-1", "gce001", "1G", modes(rwo, rox), bound("abc123")),
		testPV("gce-pd-2", "gce002", "1G", modes(rwo, rox), nil),
	)
	got, err := x.findBestMatch(testPVC("1G", nil), false)
	if err != nil || uidOf(got) != "gce-pd-2" {
		t.Fatalf("matched %q (%v), want gce-pd-2", uidOf(got), err)
	}
}

func TestFindBestMatchAccessModes(t *testing.T) {
	x := indexOf(
		testPV("001", "gce", "10G", modes(rwo, rox), nil),
		testPV("002", "ebs", "10G", modes(rwo), nil),
		testPV("003", "nfs", "10G", modes(rwo, rox, rwx), nil),
	)
	tests := []struct {
		name  string
		modes []corev1.PersistentVolumeAccessMode
		want  string
	}{
		{"exactly the modes asked for first", modes(rwo), "ebs"},
		{"two modes", modes(rwo, rox), "gce"},
		{"order of the requested modes does not matter", modes(rwx, rwo, rox), "nfs"},
		{"fewer modes still match a superset", modes(rwx), "nfs"},
		{"a mode no volume has", modes(rwop), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claim := testPVC("1G", func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.AccessModes = tt.modes })
			got, err := x.findBestMatch(claim, false)
			if err != nil {
				t.Fatal(err)
			}
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tt.want {
				t.Errorf("matched %q, want %q", name, tt.want)
			}
		})
	}
}

func TestFindBestMatchVolumeModes(t *testing.T) {
	block, fs := corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem
	volume := func(mode *corev1.PersistentVolumeMode) *corev1.PersistentVolume {
		return testPV("pv", "pv", "10G", modes(rwo), func(pv *corev1.PersistentVolume) { pv.Spec.VolumeMode = mode })
	}
	tests := []struct {
		name      string
		pvMode    *corev1.PersistentVolumeMode
		claimMode *corev1.PersistentVolumeMode
		want      bool
	}{
		{"claim block, volume filesystem", &fs, &block, false},
		{"claim filesystem, volume block", &block, &fs, false},
		{"claim block, volume with no mode (filesystem)", nil, &block, false},
		{"claim with no mode (filesystem), volume block", &block, nil, false},
		{"both block", &block, &block, true},
		{"both filesystem", &fs, &fs, true},
		{"neither has a mode", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claim := testPVC("8G", func(pvc *corev1.PersistentVolumeClaim) {
				pvc.Spec.AccessModes = modes(rwo)
				pvc.Spec.VolumeMode = tt.claimMode
			})
			got, err := indexOf(volume(tt.pvMode)).findBestMatch(claim, false)
			if err != nil {
				t.Fatal(err)
			}
			if (got != nil) != tt.want {
				t.Errorf("matched %v, want a match: %v", got != nil, tt.want)
			}
		})
	}
}

// A volume being deleted matches nothing, and a claim naming it cannot
// bind to it.
func TestVolumeBeingDeleted(t *testing.T) {
	pv := testPV("pv1", "pv1", "1G", modes(rwo), nil)
	deleting := pv.DeepCopy()
	deleting.DeletionTimestamp = ptr.To(metav1.Now())
	claim := testPVC("1G", func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.AccessModes = modes(rwo) })
	for _, tt := range []struct {
		name string
		pv   *corev1.PersistentVolume
		want bool
	}{{"not being deleted", pv, true}, {"being deleted", deleting, false}} {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkVolumeSatisfiesClaim(tt.pv, claim); (err == nil) != tt.want {
				t.Errorf("checkVolumeSatisfiesClaim = %v, want a fit: %v", err, tt.want)
			}
			got, err := indexOf(tt.pv).findBestMatch(claim, false)
			if err != nil || (got != nil) != tt.want {
				t.Errorf("findBestMatch = %v (%v), want a match: %v", got != nil, err, tt.want)
			}
		})
	}
}

// A volume pre-bound to the claim wins over a better-sized free one, if
// it fits at all.
func TestFindPreboundVolumes(t *testing.T) {
	claim := testPVC("1Gi", func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.AccessModes = modes(rwo) })
	toClaim := &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "myns", Name: "claim01", UID: claim.UID}
	tests := []struct {
		name     string
		prebound map[string]*corev1.ObjectReference
		want     string
	}{
		{"exact size", nil, "pv1"},
		{"exact size pre-bound to another claim: the next size up", map[string]*corev1.ObjectReference{"pv1": {Name: "foo", Namespace: "bar"}}, "pv5"},
		{"largest pre-bound to the claim", map[string]*corev1.ObjectReference{"pv8": toClaim}, "pv8"},
		{"too small pre-bound to the claim: exact size", map[string]*corev1.ObjectReference{"pvBadSize": toClaim}, "pv1"},
		{"wrong access mode pre-bound to the claim: exact size", map[string]*corev1.ObjectReference{"pvBadMode": toClaim}, "pv1"},
		{"pre-bound by name only, no UID", map[string]*corev1.ObjectReference{"pv8": {Namespace: "myns", Name: "claim01"}}, "pv8"},
		{"pre-bound to an older claim of that name", map[string]*corev1.ObjectReference{"pv1": {Namespace: "myns", Name: "claim01", UID: "older"}}, "pv5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pvs := []*corev1.PersistentVolume{
				testPV("pv1", "pv1", "1Gi", modes(rwo), nil),
				testPV("pv5", "pv5", "5Gi", modes(rwo), nil),
				testPV("pv8", "pv8", "8Gi", modes(rwo), nil),
				testPV("pvBadSize", "pvBadSize", "1Mi", modes(rwo), nil),
				testPV("pvBadMode", "pvBadMode", "1Gi", modes(rox), nil),
			}
			for _, pv := range pvs {
				pv.Spec.ClaimRef = tt.prebound[pv.Name]
			}
			got, err := indexOf(pvs...).findBestMatch(claim, false)
			if err != nil {
				t.Fatal(err)
			}
			if uidOf(got) != tt.want {
				t.Errorf("matched %q, want %q", uidOf(got), tt.want)
			}
		})
	}
}

// A WaitForFirstConsumer claim binds only to a volume pre-bound to it
// (by the user or the scheduler); the free ones are the scheduler's to
// choose, for the node the pod lands on.
func TestFindBestMatchDelayed(t *testing.T) {
	x := indexOf(testVolumes()...)
	if got, err := x.findBestMatch(testPVC("8G", nil), true); err != nil || got != nil {
		t.Errorf("delayed binding matched %q (%v), want none", uidOf(got), err)
	}
	prebound := testPVC("1G", func(pvc *corev1.PersistentVolumeClaim) {
		pvc.Name = "claim02"
		pvc.Spec.StorageClassName = ptr.To(classWait)
	})
	if got, err := x.findBestMatch(prebound, true); err != nil || uidOf(got) != "affinity-prebound" {
		t.Errorf("delayed binding of a pre-bound claim matched %q (%v), want affinity-prebound", uidOf(got), err)
	}
}

// Equally good volumes are chosen in a fixed order: by name.
func TestFindBestMatchIsDeterministic(t *testing.T) {
	var pvs []*corev1.PersistentVolume
	for _, name := range []string{"pv-c", "pv-a", "pv-d", "pv-b"} {
		pvs = append(pvs, testPV(name, name, "1G", modes(rwo), nil))
	}
	claim := testPVC("1G", func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.AccessModes = modes(rwo) })
	for range 20 {
		got, err := indexOf(pvs...).findBestMatch(claim, false)
		if err != nil || got.Name != "pv-a" {
			t.Fatalf("matched %v (%v), want pv-a", got, err)
		}
	}
}

func TestAccessModesString(t *testing.T) {
	tests := []struct {
		modes []corev1.PersistentVolumeAccessMode
		want  string
	}{
		{nil, ""},
		{modes(rox, rwo), "RWO,ROX"},
		{modes(rwx, rwo, rwo), "RWO,RWX"},
		{modes(rwop, rwx, rox, rwo), "RWO,ROX,RWX,RWOP"},
	}
	for _, tt := range tests {
		if got := accessModesString(tt.modes); got != tt.want {
			t.Errorf("accessModesString(%v) = %q, want %q", tt.modes, got, tt.want)
		}
		if back := accessModesString(accessModesFromString(tt.want)); back != tt.want {
			t.Errorf("round trip of %q = %q", tt.want, back)
		}
	}
}
