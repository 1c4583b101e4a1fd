package printers

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"coracle.dev/apiserver/internal/apiresource"
)

// PodTemplate columns: Name, Containers, Images, Pod Labels (no Age, as
// upstream).
func PodTemplate() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Containers", "string", "Names of each container in the template."),
		column("Images", "string", "Images referenced by each container in the template."),
		column("Pod Labels", "string", "The labels for the pod template."),
	}, podTemplateCells)
}

func podTemplateCells(pt *corev1.PodTemplate, _ time.Time) []interface{} {
	names, images := containerCells(pt.Template.Spec.Containers)
	return []interface{}{pt.Name, names, images, labels.FormatLabels(pt.Template.Labels)}
}
