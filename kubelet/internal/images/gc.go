package images

import (
	"fmt"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// GCPolicy says when images are garbage-collected.
type GCPolicy struct {
	// Dir is on the file system whose usage counts.
	Dir string
	// Above HighPercent disk usage, unused images are removed, least
	// recently used first, until usage is at most LowPercent.
	HighPercent, LowPercent int
	// MinAge spares images used more recently than this.
	MinAge time.Duration
}

// GC removes images no container uses (inUse holds the repo@digest refs
// of images in use) while the disk is fuller than the policy allows. It
// returns the names it removed.
func (s *Store) GC(p GCPolicy, inUse map[string]bool) ([]string, error) {
	usage, err := diskUsagePercent(p.Dir)
	if err != nil {
		return nil, err
	}
	if usage <= float64(p.HighPercent) {
		return nil, nil
	}
	return s.removeUnused(inUse, p.MinAge, func() bool {
		u, err := diskUsagePercent(p.Dir)
		return err != nil || u <= float64(p.LowPercent)
	})
}

// removeUnused removes unused images, oldest use first, until done says
// enough.
func (s *Store) removeUnused(inUse map[string]bool, minAge time.Duration, done func() bool) ([]string, error) {
	candidates := []Image{}
	for _, img := range s.List() {
		if !inUse[img.Ref] && time.Since(img.LastUsed) >= minAge {
			candidates = append(candidates, img)
		}
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].LastUsed.Before(candidates[j].LastUsed) })
	var removed []string
	for _, img := range candidates {
		if done() {
			break
		}
		if err := s.Remove(img.Name); err != nil {
			return removed, fmt.Errorf("remove image %s: %w", img.Name, err)
		}
		removed = append(removed, img.Name)
	}
	return removed, nil
}

func diskUsagePercent(dir string) (float64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	if st.Blocks == 0 {
		return 0, nil
	}
	return float64(st.Blocks-st.Bavail) * 100 / float64(st.Blocks), nil
}
