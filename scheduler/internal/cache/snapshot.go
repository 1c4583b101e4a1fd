package cache

import (
	"sort"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/framework"
)

// Snapshot is the cluster as one scheduling cycle sees it: clones of the
// cache's NodeInfos, brought up to date by Cache.UpdateSnapshot between
// cycles and never changed during one. It is owned by the scheduling
// goroutine and needs no lock.
type Snapshot struct {
	nodeInfoMap  map[string]*framework.NodeInfo
	nodeInfoList []*framework.NodeInfo
	withAffinity []*framework.NodeInfo
	withAnti     []*framework.NodeInfo
	imageNodes   map[string]int
	index        podIndex
	// byLabel lists the nodes with each label, in nodeInfoList order.
	byLabel map[labelKV][]*framework.NodeInfo
}

var _ framework.SharedLister = &Snapshot{}

// NewEmptySnapshot returns a snapshot with no nodes, for UpdateSnapshot
// to fill.
func NewEmptySnapshot() *Snapshot {
	return &Snapshot{nodeInfoMap: map[string]*framework.NodeInfo{}, imageNodes: map[string]int{}, index: newPodIndex()}
}

// NewSnapshot builds a snapshot directly from nodes and the pods bound to
// them (by spec.nodeName), for tests of plugins and algorithms.
func NewSnapshot(pods []*v1.Pod, nodes []*v1.Node) *Snapshot {
	s := NewEmptySnapshot()
	for _, n := range nodes {
		ni := framework.NewNodeInfo()
		ni.SetNode(n)
		s.nodeInfoMap[n.Name] = ni
	}
	for _, p := range pods {
		ni, ok := s.nodeInfoMap[p.Spec.NodeName]
		if !ok {
			continue
		}
		ni.AddPodInfo(framework.NewPodInfo(p))
	}
	for _, ni := range s.nodeInfoMap {
		s.addImages(ni, 1)
		s.index.addNode(ni)
	}
	s.rebuildLists()
	return s
}

// List implements framework.SharedLister.
func (s *Snapshot) List() []*framework.NodeInfo { return s.nodeInfoList }

// HavePodsWithAffinityList implements framework.SharedLister.
func (s *Snapshot) HavePodsWithAffinityList() []*framework.NodeInfo { return s.withAffinity }

// HavePodsWithRequiredAntiAffinityList implements framework.SharedLister.
func (s *Snapshot) HavePodsWithRequiredAntiAffinityList() []*framework.NodeInfo { return s.withAnti }

// Get implements framework.SharedLister.
func (s *Snapshot) Get(name string) *framework.NodeInfo { return s.nodeInfoMap[name] }

// NodesWithLabel implements framework.SharedLister.
func (s *Snapshot) NodesWithLabel(key, value string) []*framework.NodeInfo {
	return s.byLabel[labelKV{key, value}]
}

// ImageNodeCount implements framework.SharedLister.
func (s *Snapshot) ImageNodeCount(image string) int { return s.imageNodes[image] }

// NumNodes is the number of nodes.
func (s *Snapshot) NumNodes() int { return len(s.nodeInfoList) }

func (s *Snapshot) addImages(ni *framework.NodeInfo, delta int) {
	for name := range ni.ImageSizes {
		s.imageNodes[name] += delta
		if s.imageNodes[name] <= 0 {
			delete(s.imageNodes, name)
		}
	}
}

// rebuildLists orders the nodes round-robin across zones, as Kubernetes'
// node tree does, so that evaluating only a sample of nodes (see
// percentageOfNodesToScore) still sees every zone; within a zone, by name.
func (s *Snapshot) rebuildLists() {
	byZone := map[string][]*framework.NodeInfo{}
	var zones []string
	for _, ni := range s.nodeInfoMap {
		z := zoneOf(ni.Node())
		if _, ok := byZone[z]; !ok {
			zones = append(zones, z)
		}
		byZone[z] = append(byZone[z], ni)
	}
	sort.Strings(zones)
	for _, z := range zones {
		l := byZone[z]
		sort.Slice(l, func(i, j int) bool { return l[i].Node().Name < l[j].Node().Name })
	}
	s.nodeInfoList = s.nodeInfoList[:0]
	for i := 0; len(s.nodeInfoList) < len(s.nodeInfoMap); i++ {
		for _, z := range zones {
			if l := byZone[z]; i < len(l) {
				s.nodeInfoList = append(s.nodeInfoList, l[i])
			}
		}
	}
	s.byLabel = map[labelKV][]*framework.NodeInfo{}
	for _, ni := range s.nodeInfoList {
		for k, v := range ni.Labels {
			kv := labelKV{k, v}
			s.byLabel[kv] = append(s.byLabel[kv], ni)
		}
	}
	s.rebuildAffinityLists()
}

func (s *Snapshot) rebuildAffinityLists() {
	s.withAffinity, s.withAnti = s.withAffinity[:0], s.withAnti[:0]
	for _, ni := range s.nodeInfoList {
		if len(ni.PodsWithAffinity) > 0 {
			s.withAffinity = append(s.withAffinity, ni)
		}
		if len(ni.PodsWithRequiredAntiAffinity) > 0 {
			s.withAnti = append(s.withAnti, ni)
		}
	}
}

// zoneOf is the node's zone (region/zone), "" when unlabelled.
func zoneOf(n *v1.Node) string {
	if n == nil {
		return ""
	}
	region, zone := n.Labels[v1.LabelTopologyRegion], n.Labels[v1.LabelTopologyZone]
	if region == "" && zone == "" {
		return ""
	}
	return region + ":\x00:" + zone
}
