package printers

import (
	"time"

	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/apiserver/internal/apiresource"
)

// RuntimeClass columns: Name, Handler, Age.
func RuntimeClass() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		// Upstream describes the handler with ObjectMeta's (empty) doc.
		column("Handler", "string", metav1.ObjectMeta{}.SwaggerDoc()["handler"]),
		ageColumn(),
	}, func(rc *nodev1.RuntimeClass, now time.Time) []interface{} {
		return []interface{}{rc.Name, rc.Handler, since(rc.CreationTimestamp, now)}
	})
}
