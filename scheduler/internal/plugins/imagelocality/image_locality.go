// Package imagelocality prefers nodes that already hold the pod's
// container images, so the pod starts without a pull. Large images count
// more, and images on many nodes count more than one on a single node
// (which would otherwise attract every such pod), as in Kubernetes.
package imagelocality

import (
	"context"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/framework"
)

// Name is the plugin's name in profiles and statuses.
const Name = "ImageLocality"

// Thresholds, as Kubernetes': below minThreshold of image bytes a node
// scores 0; at maxContainerThreshold per container, 100.
const (
	mb                    int64 = 1024 * 1024
	minThreshold                = 23 * mb
	maxContainerThreshold       = 1000 * mb
)

const preScoreKey framework.StateKey = "PreScore" + Name

// ImageLocality is the plugin.
type ImageLocality struct {
	handle framework.Handle
}

var (
	_ framework.PreScorePlugin = &ImageLocality{}
	_ framework.ScorePlugin    = &ImageLocality{}
)

// New builds the plugin.
func New(h framework.Handle) (framework.Plugin, error) { return &ImageLocality{handle: h}, nil }

// Name implements framework.Plugin.
func (*ImageLocality) Name() string { return Name }

type image struct {
	name string
	// spread is the fraction of nodes holding the image.
	spread float64
}

type preScoreState struct {
	images     []image
	containers int64
}

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore resolves the pod's images and how widely each is held; a pod
// none of whose images is on any node skips Score (every node would score
// 0).
func (pl *ImageLocality) PreScore(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, _ []*framework.NodeInfo) *framework.Status {
	snap := pl.handle.SnapshotSharedLister()
	total := len(snap.List())
	st := &preScoreState{}
	held := false
	for _, cs := range [][]string{images(pod.Pod.Spec.InitContainers), images(pod.Pod.Spec.Containers)} {
		for _, name := range cs {
			st.containers++
			n := framework.NormalizeImageName(name)
			count := snap.ImageNodeCount(n)
			if count > 0 {
				held = true
			}
			spread := 0.0
			if total > 0 {
				spread = float64(count) / float64(total)
			}
			st.images = append(st.images, image{name: n, spread: spread})
		}
	}
	if !held {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(preScoreKey, st)
	return nil
}

// Score sums, over the pod's images present on the node, the image's size
// scaled by its spread, and maps the sum from [minThreshold,
// maxContainerThreshold × containers] onto [0, 100].
func (pl *ImageLocality) Score(_ context.Context, state *framework.CycleState, _ *framework.PodInfo, ni *framework.NodeInfo) (int64, *framework.Status) {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	st := d.(*preScoreState)
	var sum int64
	for _, img := range st.images {
		if size, ok := ni.ImageSizes[img.name]; ok {
			sum += int64(float64(size) * img.spread)
		}
	}
	maxThreshold := maxContainerThreshold * st.containers
	sum = min(max(sum, minThreshold), maxThreshold)
	return framework.MaxNodeScore * (sum - minThreshold) / (maxThreshold - minThreshold), nil
}

func images(cs []v1.Container) []string {
	out := make([]string, 0, len(cs))
	for i := range cs {
		if cs[i].Image != "" {
			out = append(out, cs[i].Image)
		}
	}
	return out
}
