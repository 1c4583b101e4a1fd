// Package conntrack deletes connection-tracking entries that would keep
// sending UDP traffic to endpoints that are gone: a UDP "connection" is
// tracked as long as packets flow, so without this a client that keeps
// sending never reaches the new endpoints. It runs the conntrack tool.
package conntrack

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/kube-proxy/internal/rules"
)

// Flow is one set of entries to delete, as conntrack -D arguments.
type Flow []string

// Stale lists the UDP flows to delete going from prev to next: those
// DNATed to an endpoint a service port lost, and every flow to a service
// port that had no endpoint before (packets sent while it had none must
// not stay stuck to nothing).
func Stale(prev, next []rules.ServicePort) []Flow {
	old := map[string]rules.ServicePort{}
	for _, p := range prev {
		old[p.Name+"/"+string(p.Protocol)] = p
	}
	var out []Flow
	seen := map[string]bool{}
	add := func(f Flow) {
		k := strings.Join(f, " ")
		if !seen[k] {
			seen[k] = true
			out = append(out, f)
		}
	}
	for _, p := range next {
		if p.Protocol != v1.ProtocolUDP {
			continue
		}
		o, had := old[p.Name+"/"+string(p.Protocol)]
		delete(old, p.Name+"/"+string(p.Protocol))
		if had && len(o.Endpoints) == 0 && len(p.Endpoints) > 0 {
			for _, dst := range append([]string{p.ClusterIP}, p.ExternalIPs...) {
				add(Flow{"-p", "udp", "--orig-dst", dst, "--orig-port-dst", strconv.Itoa(int(p.Port))})
			}
			if p.NodePort != 0 {
				add(Flow{"-p", "udp", "--orig-port-dst", strconv.Itoa(int(p.NodePort))})
			}
			continue
		}
		now := map[string]bool{}
		for _, e := range p.Endpoints {
			now[e] = true
		}
		for _, e := range o.Endpoints {
			if !now[e] {
				for _, f := range gone(o, e) {
					add(f)
				}
			}
		}
	}
	// Service ports that disappeared: every endpoint is stale.
	for _, o := range old {
		if o.Protocol != v1.ProtocolUDP {
			continue
		}
		for _, e := range o.Endpoints {
			for _, f := range gone(o, e) {
				add(f)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.Join(out[i], " ") < strings.Join(out[j], " ") })
	return out
}

func gone(p rules.ServicePort, endpoint string) []Flow {
	var out []Flow
	for _, dst := range append([]string{p.ClusterIP}, p.ExternalIPs...) {
		out = append(out, Flow{"-p", "udp", "--orig-dst", dst, "--dst-nat", endpoint})
	}
	if p.NodePort != 0 {
		out = append(out, Flow{"-p", "udp", "--orig-port-dst", strconv.Itoa(int(p.NodePort)), "--dst-nat", endpoint})
	}
	return out
}

// Delete runs conntrack -D for f. Finding nothing to delete is not an
// error.
func Delete(ctx context.Context, f Flow) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "conntrack", append([]string{"-D"}, f...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err == nil || strings.Contains(out.String(), "0 flow entries have been deleted") {
		return nil
	}
	return fmt.Errorf("conntrack -D %s: %w: %s", strings.Join(f, " "), err, strings.TrimSpace(out.String()))
}
