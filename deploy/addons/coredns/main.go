// Command coredns is the cluster DNS add-on: CoreDNS v1.15.0, built from
// its Go module (github.com/coredns/coredns) with only the plugins a
// Kubernetes cluster needs, the way CoreDNS's "external plugins" guide
// builds a custom binary.
//
// It is CoreDNS itself, flags and all: the Deployment in manifest.yaml
// runs it as `/coredns -conf /etc/coredns/Corefile`, and `-version`
// prints "CoreDNS-1.15.0" (coremain.CoreVersion, which comes from the
// required module version in go.mod; the image is tagged to match,
// coracle.dev/addons/coredns:v1.15.0).
package main

import (
	"fmt"
	"os"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	// The plugins, each registering its directive with Caddy in init.
	// Importing a plugin is not enough: its directive must also be in
	// directives below, or a Corefile naming it is refused.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/debug"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/whoami"
)

// directives is the subset of CoreDNS's plugin.cfg that this binary
// carries, in plugin.cfg's order. The order is the chain order: a query
// passes through the plugins in this order whatever order the Corefile
// lists them in, so e.g. cache answers before kubernetes is asked and
// loadbalance shuffles what the plugins after it return. The metrics
// plugin's directive is "prometheus". Besides what kubeadm's Corefile
// uses, it carries bind (listen on chosen addresses only: node-local
// caches, and tests on loopback), hosts, whoami and debug, all small.
var directives = []string{
	"reload",
	"bind",
	"debug",
	"ready",
	"health",
	"prometheus",
	"errors",
	"log",
	"loadbalance",
	"cache",
	"hosts",
	"kubernetes",
	"loop",
	"forward",
	"whoami",
}

func main() {
	if err := dnsserver.SetDirectives(directives); err != nil {
		fmt.Fprintf(os.Stderr, "coredns: %v\n", err)
		os.Exit(1)
	}
	coremain.Run()
}
