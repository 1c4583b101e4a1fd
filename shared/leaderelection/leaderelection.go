// Package leaderelection runs a component's work only while it holds a
// Lease in kube-system, with client-go's leader election: one replica
// works, the others wait and take over when its lease expires.
package leaderelection

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Defaults, as kube-scheduler and kube-controller-manager use them.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// ErrLostLease is returned when leadership is lost while ctx is still
// live: the component must stop, as Kubernetes' components exit.
var ErrLostLease = errors.New("leader election lost")

// Config of an election.
type Config struct {
	Client kubernetes.Interface
	// Name of the Lease, e.g. "kube-scheduler".
	Name string
	// Namespace of the Lease; "" means kube-system.
	Namespace string
	// Identity of this replica; "" means hostname plus a unique suffix.
	Identity      string
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
	Log           *zap.Logger
}

// Run blocks until ctx ends. While it leads, it runs work with a context
// that is cancelled when leadership ends. It returns nil when ctx ended
// and ErrLostLease when the lease was lost first.
func Run(ctx context.Context, cfg Config, work func(ctx context.Context)) error {
	if cfg.Namespace == "" {
		cfg.Namespace = metav1.NamespaceSystem
	}
	if cfg.Identity == "" {
		host, _ := os.Hostname()
		cfg.Identity = fmt.Sprintf("%s_%s", host, uuid.NewUUID())
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.RenewDeadline == 0 {
		cfg.RenewDeadline = DefaultRenewDeadline
	}
	if cfg.RetryPeriod == 0 {
		cfg.RetryPeriod = DefaultRetryPeriod
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: cfg.Name, Namespace: cfg.Namespace},
		Client:     cfg.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: cfg.Identity},
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:          lock,
		LeaseDuration: cfg.LeaseDuration,
		RenewDeadline: cfg.RenewDeadline,
		RetryPeriod:   cfg.RetryPeriod,
		Name:          cfg.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leadCtx context.Context) {
				log.Info("became leader", zap.String("lease", cfg.Namespace+"/"+cfg.Name), zap.String("identity", cfg.Identity))
				work(leadCtx)
			},
			OnStoppedLeading: func() {
				log.Info("stopped leading", zap.String("lease", cfg.Namespace+"/"+cfg.Name))
			},
			OnNewLeader: func(id string) {
				if id != cfg.Identity {
					log.Info("leader is another replica", zap.String("leader", id))
				}
			},
		},
		ReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("leader election %s: %w", cfg.Name, err)
	}
	elector.Run(ctx)
	if ctx.Err() == nil {
		return ErrLostLease
	}
	return nil
}
