// Package version says which Coracle build is running and which Kubernetes
// API version it speaks. The values can be overridden at link time with
// -ldflags "-X coracle.dev/shared/version.gitCommit=...".
package version

import (
	"fmt"
	"runtime"

	apimachineryversion "k8s.io/apimachinery/pkg/version"
)

// Kubernetes minor version whose API Coracle serves. kubectl compares it
// with its own version to warn about skew, so it must look like Kubernetes'.
const (
	kubeMajor = "1"
	kubeMinor = "32"
)

var (
	coracleVersion = "0.1.0"
	gitCommit      = "unknown"
	buildDate      = "1970-01-01T00:00:00Z"
)

// Get returns the version the /version endpoint and `--version` report.
func Get() apimachineryversion.Info {
	return apimachineryversion.Info{
		Major:        kubeMajor,
		Minor:        kubeMinor,
		GitVersion:   fmt.Sprintf("v%s.%s.0+coracle-%s", kubeMajor, kubeMinor, coracleVersion),
		GitCommit:    gitCommit,
		GitTreeState: "clean",
		BuildDate:    buildDate,
		GoVersion:    runtime.Version(),
		Compiler:     runtime.Compiler,
		Platform:     runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// String is the short form printed by `--version`.
func String() string {
	return Get().GitVersion
}
