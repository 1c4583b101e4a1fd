package printers

import (
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/apiserver/internal/apiresource"
)

// RoleBinding columns: Name, Role, Age; wide Users, Groups,
// ServiceAccounts.
func RoleBinding() *apiresource.Table {
	return newTable(bindingColumns(rbacv1.RoleBinding{}.SwaggerDoc()["roleRef"], "roleBinding"), roleBindingCells)
}

// ClusterRoleBinding columns: as RoleBinding's.
func ClusterRoleBinding() *apiresource.Table {
	return newTable(bindingColumns(rbacv1.ClusterRoleBinding{}.SwaggerDoc()["roleRef"], "clusterRoleBinding"), clusterRoleBindingCells)
}

func bindingColumns(roleRefDoc, kind string) []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Role", "string", roleRefDoc),
		ageColumn(),
		wideColumn("Users", "string", "Users in the "+kind),
		wideColumn("Groups", "string", "Groups in the "+kind),
		wideColumn("ServiceAccounts", "string", "ServiceAccounts in the "+kind),
	}
}

func roleBindingCells(b *rbacv1.RoleBinding, now time.Time) []interface{} {
	return bindingCells(b.Name, b.CreationTimestamp, b.RoleRef, b.Subjects, now)
}

func clusterRoleBindingCells(b *rbacv1.ClusterRoleBinding, now time.Time) []interface{} {
	return bindingCells(b.Name, b.CreationTimestamp, b.RoleRef, b.Subjects, now)
}

// bindingCells shows the role as Kind/Name and the subjects by kind,
// service accounts as namespace/name, each list joined with ", ".
func bindingCells(name string, created metav1.Time, ref rbacv1.RoleRef, subjects []rbacv1.Subject, now time.Time) []interface{} {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			sas = append(sas, s.Namespace+"/"+s.Name)
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		}
	}
	return []interface{}{
		name,
		ref.Kind + "/" + ref.Name,
		since(created, now),
		strings.Join(users, ", "),
		strings.Join(groups, ", "),
		strings.Join(sas, ", "),
	}
}
