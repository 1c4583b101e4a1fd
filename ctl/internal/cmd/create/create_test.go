package create

import "testing"

func TestContainerName(t *testing.T) {
	for image, want := range map[string]string{
		"busybox":                               "busybox",
		"busybox:1.36":                          "busybox",
		"registry.local:5000/library/nginx:1.2": "nginx",
		"ghcr.io/org/app@sha256:abc":            "app",
	} {
		if got := containerName(image); got != want {
			t.Errorf("containerName(%q) = %q, want %q", image, got, want)
		}
	}
}
