package printers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crtable "k8s.io/apiextensions-apiserver/pkg/registry/customresource/tableconvertor"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/apiresource"
)

// CustomResourceDefinition columns, as apiextensions-apiserver's.
func CustomResourceDefinition() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Scope", "string", "Cluster/Namespaced"),
		column("Versions", "string", "Served versions"),
		column("Created At", "date", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]),
		wideColumn("Group", "string", "API group"),
		wideColumn("Kind", "string", "CustomResource kind"),
		wideColumn("ShortNames", "string", "Short names"),
		wideColumn("Established", "boolean", "Established status"),
	}, crdCells)
}

func crdCells(crd *apiextensionsv1.CustomResourceDefinition, _ time.Time) []interface{} {
	var versions []string
	for _, v := range crd.Spec.Versions {
		if v.Served {
			label := v.Name
			if v.Storage {
				label += "(storage)"
			}
			versions = append(versions, label)
		}
	}
	sort.Strings(versions)
	established := false
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established {
			established = c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return []interface{}{
		crd.Name, string(crd.Spec.Scope), strings.Join(versions, ","),
		crd.CreationTimestamp.UTC().Format(time.RFC3339),
		crd.Spec.Group, crd.Spec.Names.Kind, strings.Join(crd.Spec.Names.ShortNames, ","), established,
	}
}

// CustomResource builds the table of a custom resource version from its
// additionalPrinterColumns with apiextensions-apiserver's own convertor
// (JSONPath cells, typed as the column says), so kubectl prints what it
// prints against Kubernetes. A version with no columns gets Name and Age,
// as there.
func CustomResource(columns []apiextensionsv1.CustomResourceColumnDefinition) (*apiresource.Table, error) {
	if len(columns) == 0 {
		columns = []apiextensionsv1.CustomResourceColumnDefinition{
			{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
		}
	}
	conv, err := crtable.New(columns)
	if err != nil {
		return nil, err
	}
	head, err := conv.ConvertToTable(context.Background(), &unstructured.UnstructuredList{}, nil)
	if err != nil {
		return nil, err
	}
	return &apiresource.Table{
		Columns: head.ColumnDefinitions,
		Row: func(obj runtime.Object) ([]interface{}, error) {
			t, err := conv.ConvertToTable(context.Background(), obj, &metav1.TableOptions{NoHeaders: true})
			if err != nil {
				return nil, err
			}
			if len(t.Rows) != 1 {
				return nil, fmt.Errorf("print %T: %d rows", obj, len(t.Rows))
			}
			return t.Rows[0].Cells, nil
		},
	}, nil
}
