package printers

import (
	"time"

	storagemigrationv1 "k8s.io/api/storagemigration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/apiserver/internal/apiresource"
)

// StorageVersionMigration columns: Name, Resource, Status. Upstream's
// name column has no "name" format, and there is no Age.
func StorageVersionMigration() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		column("Name", "string", metav1.ObjectMeta{}.SwaggerDoc()["name"]),
		column("Resource", "string", "GroupResource to migrate"),
		column("Status", "string", "Status of the migration"),
	}, storageVersionMigrationCells)
}

// storageVersionMigrationCells shows the resource as group/resource
// strings print ("foo" for the core group, "deployments.apps") and the
// last true condition of Running, Failed and Succeeded, else Unknown.
func storageVersionMigrationCells(m *storagemigrationv1.StorageVersionMigration, _ time.Time) []interface{} {
	status := "Unknown"
	for _, c := range m.Status.Conditions {
		if c.Status != metav1.ConditionTrue {
			continue
		}
		switch storagemigrationv1.MigrationConditionType(c.Type) {
		case storagemigrationv1.MigrationRunning, storagemigrationv1.MigrationFailed, storagemigrationv1.MigrationSucceeded:
			status = c.Type
		}
	}
	return []interface{}{m.Name, m.Spec.Resource.String(), status}
}
