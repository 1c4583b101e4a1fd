package printers

import (
	"reflect"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/apiresource"
)

// TestBindingTables checks the bindings' columns against Kubernetes'
// and that Row fills one cell per column and refuses other kinds.
func TestBindingTables(t *testing.T) {
	tests := []struct {
		name          string
		table         *apiresource.Table
		obj, wrong    runtime.Object
		columns, wide []string
	}{
		{"rolebinding", RoleBinding(), &rbacv1.RoleBinding{}, &rbacv1.ClusterRoleBinding{},
			[]string{"Name", "Role", "Age"}, []string{"Users", "Groups", "ServiceAccounts"}},
		{"clusterrolebinding", ClusterRoleBinding(), &rbacv1.ClusterRoleBinding{}, &rbacv1.RoleBinding{},
			[]string{"Name", "Role", "Age"}, []string{"Users", "Groups", "ServiceAccounts"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var columns, wide []string
			for _, c := range tt.table.Columns {
				if c.Type != "string" || c.Description == "" {
					t.Errorf("column %q: type %q, description %q", c.Name, c.Type, c.Description)
				}
				if c.Priority == 0 {
					columns = append(columns, c.Name)
				} else {
					wide = append(wide, c.Name)
				}
			}
			if !reflect.DeepEqual(columns, tt.columns) || !reflect.DeepEqual(wide, tt.wide) {
				t.Errorf("columns %q wide %q, want %q wide %q", columns, wide, tt.columns, tt.wide)
			}
			if tt.table.Columns[0].Format != "name" {
				t.Errorf("first column %q is not the name", tt.table.Columns[0].Name)
			}
			cells, err := tt.table.Row(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			if len(cells) != len(tt.table.Columns) {
				t.Fatalf("%d cells for %d columns", len(cells), len(tt.table.Columns))
			}
			if _, err := tt.table.Row(tt.wrong); err == nil {
				t.Errorf("Row accepted a %T", tt.wrong)
			}
		})
	}
}

func TestBindingCells(t *testing.T) {
	subjects := []rbacv1.Subject{
		{Kind: rbacv1.UserKind, Name: "alice"},
		{Kind: rbacv1.GroupKind, Name: "system:nodes"},
		{Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: "kube-system"},
		{Kind: rbacv1.UserKind, Name: "bob"},
		{Kind: rbacv1.GroupKind, Name: "devs"},
		{Kind: rbacv1.ServiceAccountKind, Name: "builder", Namespace: "ci"},
	}
	tests := []struct {
		name string
		got  []interface{}
		want []interface{}
	}{
		{"rolebinding with every kind of subject", roleBindingCells(&rbacv1.RoleBinding{
			ObjectMeta: meta("edit-devs"),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
			Subjects:   subjects,
		}, testNow()), []interface{}{"edit-devs", "ClusterRole/edit", "10d", "alice, bob", "system:nodes, devs", "kube-system/default, ci/builder"}},
		{"rolebinding of a role, no subjects", roleBindingCells(&rbacv1.RoleBinding{
			ObjectMeta: meta("reader"),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		}, testNow()), []interface{}{"reader", "Role/pod-reader", "10d", "", "", ""}},
		{"clusterrolebinding", clusterRoleBindingCells(&rbacv1.ClusterRoleBinding{
			ObjectMeta: meta("system:node-proxier"),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:node-proxier"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "system:kube-proxy", APIGroup: rbacv1.GroupName}},
		}, testNow()), []interface{}{"system:node-proxier", "ClusterRole/system:node-proxier", "10d", "system:kube-proxy", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCells(t, tt.got, tt.want) })
	}
}
