package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"coracle.dev/controller-manager/internal/controller/addons"
	"coracle.dev/controller-manager/manager"
)

const addonV1 = `
apiVersion: v1
kind: Namespace
metadata:
  name: addon-ns
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: addon-ns
data:
  level: "1"
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: runner
  namespace: addon-ns
---
# A CRD and one of its objects in the same file: the object applies once
# the CRD is served.
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {plural: widgets, singular: widget, kind: Widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
  namespace: addon-ns
size: 3
`

// TestAddonManager: the manifests of a directory are applied at start
// and on change, labelled with their add-on; a hand edit stays until the
// file changes; objects the file drops are deleted; a user's object of
// the same name is never touched; deleting the manifest disables the
// add-on (NAME.skip) and deletes its objects; --disable-addons keeps an
// add-on off; a file that does not parse changes nothing.
func TestAddonManager(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		// Written aside and renamed, as an editor or installer does: the
		// manager never reads half a file.
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("app.yaml", addonV1)
	write("off.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: off, namespace: default}\n")
	e := startServer(t)
	ctx := e.ctx()
	// A user's own object, made before the add-on names it.
	if _, err := e.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "mine"}, Data: map[string]string{"owner": "user"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	write("user.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mine}\ndata: {owner: addon}\n")
	e.cm = e.startManager(withControllers(addons.Name), func(c *manager.Config) {
		c.AddonManifestsDir = dir
		c.DisableAddons = []string{"off"}
		c.AddonResyncPeriod = 2 * time.Second
	})

	dyn := dynamic.NewForConfigOrDie(e.ts.Config)
	configMap := func(ns, name string) (*corev1.ConfigMap, error) {
		return e.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	}
	eventually(t, 60*time.Second, "add-on app applied", func() (bool, error) {
		cm, err := configMap("addon-ns", "settings")
		if err != nil {
			return false, nil
		}
		if _, err := e.client.CoreV1().ServiceAccounts("addon-ns").Get(ctx, "runner", metav1.GetOptions{}); err != nil {
			return false, nil
		}
		w, err := dyn.Resource(schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}).Namespace("addon-ns").Get(ctx, "w1", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return cm.Labels[addons.NameLabel] == "app" && cm.Data["level"] == "1" && w.GetLabels()[addons.NameLabel] == "app", nil
	})
	if _, err := configMap("default", "off"); !apierrors.IsNotFound(err) {
		t.Errorf("disabled add-on applied: %v", err)
	}
	if cm, err := configMap("default", "mine"); err != nil || cm.Data["owner"] != "user" || cm.Labels[addons.NameLabel] != "" {
		t.Errorf("the user's object was touched: %+v, %v", cm, err)
	}

	// A hand edit stays through resyncs while the file is unchanged.
	cm, _ := configMap("addon-ns", "settings")
	cm.Data["level"] = "by-hand"
	if _, err := e.client.CoreV1().ConfigMaps("addon-ns").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The file changes elsewhere (a new object): the add-on is applied
	// again, and the document of the edited object, unchanged, is not.
	write("app.yaml", addonV1+"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: marker, namespace: addon-ns}\n")
	eventually(t, 30*time.Second, "the new object applied", func() (bool, error) {
		_, err := configMap("addon-ns", "marker")
		return err == nil, nil
	})
	if cm, _ := configMap("addon-ns", "settings"); cm.Data["level"] != "by-hand" {
		t.Errorf("a hand edit was reverted though its document did not change: %v", cm.Data)
	}

	// A change of the file is applied; an object it drops is deleted.
	changed := strings.Replace(addonV1, `level: "1"`, `level: "2"`, 1)
	changed = strings.Replace(changed, "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: runner\n  namespace: addon-ns\n", "", 1)
	write("app.yaml", changed)
	eventually(t, 30*time.Second, "changed file applied, dropped objects deleted", func() (bool, error) {
		cm, err := configMap("addon-ns", "settings")
		if err != nil || cm.Data["level"] != "2" {
			return false, err
		}
		if _, err := configMap("addon-ns", "marker"); !apierrors.IsNotFound(err) {
			return false, nil
		}
		_, err = e.client.CoreV1().ServiceAccounts("addon-ns").Get(ctx, "runner", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})

	// A file that does not parse changes nothing (checked once another
	// add-on, written after it, is applied).
	write("app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n")
	write("probe.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe, namespace: default}\n")
	eventually(t, 30*time.Second, "add-on probe applied", func() (bool, error) {
		_, err := configMap("default", "probe")
		return err == nil, nil
	})
	if _, err := configMap("addon-ns", "settings"); err != nil {
		t.Errorf("a bad manifest pruned its add-on: %v", err)
	}

	// Deleting the manifest disables the add-on and deletes its objects.
	if err := os.Remove(filepath.Join(dir, "probe.yaml")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "probe add-on disabled", func() (bool, error) {
		_, err := configMap("default", "probe")
		_, statErr := os.Stat(filepath.Join(dir, "probe.skip"))
		return apierrors.IsNotFound(err) && statErr == nil, nil
	})
	// With the marker there, a manifest put back stays off.
	write("probe.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe, namespace: default}\n")
	write("app.yaml", changed)
	eventually(t, 30*time.Second, "app applied again", func() (bool, error) {
		cm, err := configMap("addon-ns", "settings")
		return err == nil && cm.Data["level"] == "2", nil
	})
	if _, err := configMap("default", "probe"); !apierrors.IsNotFound(err) {
		t.Errorf("a skipped add-on was applied: %v", err)
	}
	if cm, err := configMap("default", "mine"); err != nil || cm.Data["owner"] != "user" {
		t.Errorf("the user's object was touched: %+v, %v", cm, err)
	}
}
