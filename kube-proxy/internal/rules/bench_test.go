package rules

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// synthetic is n services with 10 endpoints each.
func synthetic(n int) Input {
	in := Input{NodeName: node}
	ports := []discoveryv1.EndpointPort{sport("http", v1.ProtocolTCP, 8080)}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("svc-%05d", i)
		in.Services = append(in.Services, service(name, fmt.Sprintf("10.96.%d.%d", i/256, i%256), []v1.ServicePort{tcp("http", 80, 0)}))
		var eps []ep
		for j := 0; j < 10; j++ {
			k := i*10 + j
			eps = append(eps, readyEP(fmt.Sprintf("10.%d.%d.%d", 128+k>>16, (k>>8)&255, k&255), node))
		}
		in.Slices = append(in.Slices, slice(name, name+"-1", ports, eps...))
		in.Services[i].ResourceVersion, in.Slices[i].ResourceVersion = "1", "1"
	}
	return in
}

func BenchmarkBuild10k(b *testing.B) {
	in := synthetic(10000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Build(in)
	}
}

func BenchmarkBuildAndDiff10k(b *testing.B) {
	in := synthetic(10000)
	prev := Build(in)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		next := Build(in)
		Diff(prev, next, nil)
	}
}

// A partial sync: one slice changed, everything else from the cache.
func BenchmarkBuildCachedAndDiff10k(b *testing.B) {
	in := synthetic(10000)
	in.Cache = &Cache{}
	prev := Build(in)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := in.Slices[i%len(in.Slices)].DeepCopy()
		s.ResourceVersion = fmt.Sprint(i + 2)
		s.Endpoints[0].Addresses = []string{fmt.Sprintf("10.1.%d.%d", i/256%256, i%256)}
		in.Slices[i%len(in.Slices)] = s
		next := Build(in)
		if ops := Diff(prev, next, nil); len(ops) == 0 {
			b.Fatal("no change seen")
		}
		prev = next
	}
}
