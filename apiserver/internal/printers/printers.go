// Package printers gives each kind the columns `kubectl get` shows, as
// Kubernetes' server-side printers define them, and renders objects into
// table rows.
package printers

import "coracle.dev/apiserver/internal/resource"

// Kinds without their own columns yet return nil: the HTTP layer then shows
// Kubernetes' default Name and Created At columns.

func Namespace() *resource.Table             { return nil }
func Node() *resource.Table                  { return nil }
func Pod() *resource.Table                   { return nil }
func Service() *resource.Table               { return nil }
func Endpoints() *resource.Table             { return nil }
func ConfigMap() *resource.Table             { return nil }
func Secret() *resource.Table                { return nil }
func Event() *resource.Table                 { return nil }
func ServiceAccount() *resource.Table        { return nil }
func PersistentVolume() *resource.Table      { return nil }
func PersistentVolumeClaim() *resource.Table { return nil }
func Deployment() *resource.Table              { return nil }
func ReplicaSet() *resource.Table              { return nil }
func DaemonSet() *resource.Table               { return nil }
func StatefulSet() *resource.Table             { return nil }
func Job() *resource.Table                     { return nil }
func CronJob() *resource.Table                 { return nil }
func Lease() *resource.Table                   { return nil }
func EndpointSlice() *resource.Table           { return nil }
func HorizontalPodAutoscaler() *resource.Table { return nil }
func Ingress() *resource.Table                 { return nil }
func StorageClass() *resource.Table            { return nil }
func PriorityClass() *resource.Table           { return nil }
