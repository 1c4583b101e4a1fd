package endpoints

import (
	"encoding/json"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/apiresource"
)

// defaultColumns are shown for kinds without columns of their own, as
// Kubernetes' default table convertor does.
var defaultColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

func defaultRow(obj runtime.Object) ([]interface{}, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	return []interface{}{m.GetName(), m.GetCreationTimestamp().Time.UTC().Format(time.RFC3339)}, nil
}

// toTable renders an object or a list as a metav1.Table.
func toTable(desc *apiresource.Descriptor, obj runtime.Object, includeObject string) (*metav1.Table, error) {
	columns, rowFn := defaultColumns, defaultRow
	if desc.Table != nil {
		columns, rowFn = desc.Table.Columns, desc.Table.Row
	}
	table := &metav1.Table{
		TypeMeta:          metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/v1"},
		ColumnDefinitions: columns,
	}
	var items []runtime.Object
	if meta.IsListType(obj) {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		lm, _ := meta.ListAccessor(obj)
		table.ResourceVersion = lm.GetResourceVersion()
		table.Continue = lm.GetContinue()
		table.RemainingItemCount = lm.GetRemainingItemCount()
	} else {
		items = []runtime.Object{obj}
		if m, err := meta.Accessor(obj); err == nil {
			table.ResourceVersion = m.GetResourceVersion()
		}
	}
	var listCells [][]interface{}
	if meta.IsListType(obj) && desc.Table != nil && desc.Table.ListRows != nil {
		var err error
		if listCells, err = desc.Table.ListRows(items); err != nil {
			return nil, apierrors.NewInternalError(fmt.Errorf("table rows: %w", err))
		}
	}
	table.Rows = make([]metav1.TableRow, 0, len(items))
	for i, item := range items {
		var cells []interface{}
		if listCells != nil {
			cells = listCells[i]
		} else {
			var err error
			if cells, err = rowFn(item); err != nil {
				return nil, apierrors.NewInternalError(fmt.Errorf("table row: %w", err))
			}
		}
		row := metav1.TableRow{Cells: cells}
		raw, err := rowObject(item, desc, includeObject)
		if err != nil {
			return nil, err
		}
		row.Object = raw
		table.Rows = append(table.Rows, row)
	}
	return table, nil
}

// rowObject embeds the object behind a row: its metadata by default, all of
// it with includeObject=Object, nothing with None.
func rowObject(obj runtime.Object, desc *apiresource.Descriptor, includeObject string) (runtime.RawExtension, error) {
	var v any
	switch metav1.IncludeObjectPolicy(includeObject) {
	case metav1.IncludeNone:
		return runtime.RawExtension{}, nil
	case metav1.IncludeObject:
		v = obj
	case "", metav1.IncludeMetadata:
		v = partialMetadata(obj)
	default:
		return runtime.RawExtension{}, apierrors.NewBadRequest(fmt.Sprintf("includeObject: unsupported value %q: supported values: None, Metadata, Object", includeObject))
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return runtime.RawExtension{}, apierrors.NewInternalError(err)
	}
	return runtime.RawExtension{Raw: raw}, nil
}

func partialMetadata(obj runtime.Object) *metav1.PartialObjectMetadata {
	out := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"}}
	if m, err := meta.Accessor(obj); err == nil {
		out.ObjectMeta = metav1.ObjectMeta{
			Name: m.GetName(), GenerateName: m.GetGenerateName(), Namespace: m.GetNamespace(),
			UID: m.GetUID(), ResourceVersion: m.GetResourceVersion(), Generation: m.GetGeneration(),
			CreationTimestamp: m.GetCreationTimestamp(), DeletionTimestamp: m.GetDeletionTimestamp(),
			DeletionGracePeriodSeconds: m.GetDeletionGracePeriodSeconds(),
			Labels:                     m.GetLabels(), Annotations: m.GetAnnotations(),
			OwnerReferences: m.GetOwnerReferences(), Finalizers: m.GetFinalizers(),
		}
	}
	return out
}

// toMetadata renders an object or a list as PartialObjectMetadata(List),
// for client-go's metadata client.
func toMetadata(obj runtime.Object) runtime.Object {
	if !meta.IsListType(obj) {
		return partialMetadata(obj)
	}
	items, _ := meta.ExtractList(obj)
	out := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadataList", APIVersion: "meta.k8s.io/v1"}}
	if lm, err := meta.ListAccessor(obj); err == nil {
		out.ResourceVersion = lm.GetResourceVersion()
		out.Continue = lm.GetContinue()
		out.RemainingItemCount = lm.GetRemainingItemCount()
	}
	out.Items = make([]metav1.PartialObjectMetadata, len(items))
	for i, item := range items {
		out.Items[i] = *partialMetadata(item)
	}
	return out
}
