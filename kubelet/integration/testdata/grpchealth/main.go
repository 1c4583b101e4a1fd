// Command grpchealth serves the standard gRPC health service
// (grpc.health.v1.Health) on :5000 for the kubelet's gRPC probe tests,
// as agnhost's grpc-health-checking does for the conformance suite: the
// server itself is SERVING, the service "unhealthy" NOT_SERVING, and
// with $DOWN_AFTER (a duration) the server turns NOT_SERVING that long
// after it starts.
package main

import (
	"log"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	l, err := net.Listen("tcp", ":5000")
	if err != nil {
		log.Fatal(err)
	}
	hs := health.NewServer()
	hs.SetServingStatus("unhealthy", healthpb.HealthCheckResponse_NOT_SERVING)
	if v := os.Getenv("DOWN_AFTER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			log.Fatal(err)
		}
		time.AfterFunc(d, func() { hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING) })
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	log.Print("serving gRPC health on :5000")
	log.Fatal(srv.Serve(l))
}
