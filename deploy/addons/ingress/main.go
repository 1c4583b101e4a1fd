// Command ingress is Coracle's Ingress controller add-on: it serves
// networking.k8s.io/v1 Ingresses of the IngressClass "coracle" with Caddy
// embedded as the proxy:
//
//	ingress [--kubeconfig FILE] [--http-address :80] [--https-address :443]
//	        [--publish-service NAMESPACE/NAME] [--ingress-class coracle]
//	        [--controller-name coracle.dev/ingress-controller]
//	        [--status-address :10254] [--config FILE]
//
// See coracle.dev/addons/ingress/app for what it runs.
package main

import (
	"coracle.dev/addons/ingress/app"
	"coracle.dev/shared/component"
)

func main() { component.Main(app.Daemon()) }
