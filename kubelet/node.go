package kubelet

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"coracle.dev/kubelet/internal/images"
	"coracle.dev/kubelet/internal/podworkers"
	"coracle.dev/shared/pki"
)

// fakeImages is the image service of the fake runtime: every image is
// present and runs sh.
type fakeImages struct{}

func (fakeImages) Get(ref string) (*images.Image, bool) {
	return &images.Image{Name: ref, Ref: ref + "@sha256:0000000000000000000000000000000000000000000000000000000000000000", Cmd: []string{"sh"}}, true
}

func (f fakeImages) Pull(_ context.Context, ref string, _ []v1.Secret) (*images.Image, error) {
	img, _ := f.Get(ref)
	return img, nil
}

func (fakeImages) Use(string) {}

func (k *Kubelet) imageService() podworkers.ImageService {
	if k.images != nil {
		return k.images
	}
	return k.fakeImg
}

// servingCert returns the kubelet API's certificate: the configured one,
// or a self-signed one kept in ROOT/pki, as the kubelet makes when none
// is given.
func (k *Kubelet) servingCert() ([]byte, []byte, error) {
	if k.opts.TLSCertFile != "" {
		cert, err := os.ReadFile(k.opts.TLSCertFile)
		if err != nil {
			return nil, nil, err
		}
		key, err := os.ReadFile(k.opts.TLSKeyFile)
		if err != nil {
			return nil, nil, err
		}
		return cert, key, nil
	}
	dir := filepath.Join(k.opts.RootDir, "pki")
	if pki.Exists(dir, "kubelet") {
		kp, err := pki.Load(dir, "kubelet")
		if err == nil && time.Until(kp.Cert.NotAfter) > 24*time.Hour {
			return kp.CertPEM, kp.KeyPEM, nil
		}
	}
	ca, err := pki.NewCA(k.opts.NodeName + "-ca@" + time.Now().Format("20060102150405"))
	if err != nil {
		return nil, nil, err
	}
	ips := []net.IP{net.ParseIP("127.0.0.1")}
	if ip := net.ParseIP(k.nodeIP); ip != nil {
		ips = append(ips, ip)
	}
	names := sets.New(k.opts.NodeName, "localhost")
	if h, err := os.Hostname(); err == nil {
		names.Insert(h)
	}
	kp, err := ca.Issue(pki.Request{CommonName: k.opts.NodeName, DNSNames: sets.List(names), IPs: ips, Usage: pki.ServerUsage})
	if err != nil {
		return nil, nil, err
	}
	if err := kp.Write(dir, "kubelet"); err != nil {
		return nil, nil, err
	}
	return kp.CertPEM, kp.KeyPEM, nil
}

// imageGCLoop removes unused images when the disk holding the image store
// is fuller than the high threshold, down to the low one, every 5 minutes.
func (k *Kubelet) imageGCLoop(ctx context.Context) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := k.imageGC(ctx); err != nil {
			k.log.Warn("image garbage collection", zap.Error(err))
		}
	}
}

// imageGC runs one pass of image garbage collection.
func (k *Kubelet) imageGC(ctx context.Context) error {
	pods, err := k.runtime.ListPods(ctx)
	if err != nil {
		return err
	}
	inUse := map[string]bool{}
	for _, p := range pods {
		for _, c := range p.Containers {
			inUse[c.ImageRef] = true
		}
	}
	removed, err := k.images.GC(images.GCPolicy{
		Dir: k.opts.RootDir, HighPercent: k.opts.ImageGCHighThreshold, LowPercent: k.opts.ImageGCLowThreshold,
		MinAge: 2 * time.Minute,
	}, inUse)
	for _, r := range removed {
		k.log.Info("image removed", zap.String("image", r))
	}
	return err
}
