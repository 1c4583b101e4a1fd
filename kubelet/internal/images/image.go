// Package images keeps a node's images: it pulls them by reference from
// any OCI registry with go-containerregistry, stores their layers
// unpacked, one directory per layer, so that a container's root file
// system is an overlay mount on them, and removes images no container
// uses when the disk fills up.
package images

import "time"

// Image is a pulled image: where it came from and how to run it.
type Image struct {
	// Name is the normalized reference it was pulled by
	// (index.docker.io/library/busybox:latest).
	Name string `json:"name"`
	// Ref is the repository at the manifest digest (repo@sha256:…), the
	// imageID a container status reports.
	Ref string `json:"ref"`
	// ID is the image's config digest.
	ID string `json:"id"`
	// Layers are the uncompressed layer digests (diff IDs), bottom first.
	Layers []string `json:"layers"`
	// Size is the sum of the compressed layer sizes.
	Size int64 `json:"size"`

	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
	User       string   `json:"user,omitempty"`

	// LastUsed is when a container was last created from it.
	LastUsed time.Time `json:"lastUsed"`
}
