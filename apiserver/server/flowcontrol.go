package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"coracle.dev/apiserver/internal/flowcontrol"
	"coracle.dev/apiserver/internal/flowcontrol/ensurer"
)

// FlowControlConfig is how the apiserver protects itself from overload,
// as kube-apiserver's --enable-priority-and-fairness and max-in-flight
// flags.
type FlowControlConfig struct {
	// EnablePriorityAndFairness queues and dispatches requests with API
	// Priority and Fairness; off, the max-in-flight limiter.
	EnablePriorityAndFairness bool `mapstructure:"enable-priority-and-fairness"`
	// MaxRequestsInFlight and MaxMutatingRequestsInFlight sum to the
	// server's concurrency limit with priority and fairness; without,
	// they limit reads and writes apart (0: no limit).
	MaxRequestsInFlight         int `mapstructure:"max-requests-inflight"`
	MaxMutatingRequestsInFlight int `mapstructure:"max-mutating-requests-inflight"`
}

// defaultFlowControlConfig is Kubernetes' default.
func defaultFlowControlConfig() FlowControlConfig {
	return FlowControlConfig{
		EnablePriorityAndFairness:   true,
		MaxRequestsInFlight:         flowcontrol.DefaultMaxRequestsInFlight,
		MaxMutatingRequestsInFlight: flowcontrol.DefaultMaxMutatingRequestsInFlight,
	}
}

// addFlowControlFlags declares the flags of FlowControlConfig with
// kube-apiserver's names, defaults and help.
func addFlowControlFlags(fs *pflag.FlagSet) {
	d := defaultFlowControlConfig()
	fs.Bool("enable-priority-and-fairness", d.EnablePriorityAndFairness, "if true, replace the max-in-flight handler with an enhanced one that queues and dispatches with priority and fairness (FlowSchemas and PriorityLevelConfigurations)")
	fs.Int("max-requests-inflight", d.MaxRequestsInFlight, "this and --max-mutating-requests-inflight are summed to determine the server's total concurrency limit (which must be positive) if --enable-priority-and-fairness is true; otherwise, this flag limits the maximum number of non-mutating requests in flight, or a zero value disables the limit completely")
	fs.Int("max-mutating-requests-inflight", d.MaxMutatingRequestsInFlight, "this and --max-requests-inflight are summed to determine the server's total concurrency limit (which must be positive) if --enable-priority-and-fairness is true; otherwise, this flag limits the maximum number of mutating requests in flight, or a zero value disables the limit completely")
}

// validate names the bad flow-control setting, in kube-apiserver's words.
func (c FlowControlConfig) validate() error {
	var errs []error
	if c.MaxRequestsInFlight < 0 {
		errs = append(errs, errors.New("--max-requests-inflight can not be negative value"))
	}
	if c.MaxMutatingRequestsInFlight < 0 {
		errs = append(errs, errors.New("--max-mutating-requests-inflight can not be negative value"))
	}
	if c.EnablePriorityAndFairness && c.MaxRequestsInFlight+c.MaxMutatingRequestsInFlight <= 0 {
		errs = append(errs, fmt.Errorf("--max-requests-inflight=%d and --max-mutating-requests-inflight=%d: they must add up to something positive with --enable-priority-and-fairness",
			c.MaxRequestsInFlight, c.MaxMutatingRequestsInFlight))
	}
	return errors.Join(errs...)
}

// flowControlState is the server's flow-control filter and whether its
// background work has started.
type flowControlState struct {
	filter *flowcontrol.Filter
	start  sync.Once
}

// flowControlMiddleware builds the filter and returns its middleware,
// which goes after impersonation and before authorization. The filter
// works at once with the mandatory configuration; its controller starts
// with the bootstrap (ensureFlowControl). It is built with the HTTP
// engine because its loopback client needs the port the server listens
// on.
func (s *Server) flowControlMiddleware() gin.HandlerFunc {
	loopback, err := s.RESTConfig()
	if err == nil {
		s.fc.filter, err = flowcontrol.New(flowcontrol.Options{
			EnablePriorityAndFairness:   s.cfg.EnablePriorityAndFairness,
			MaxRequestsInFlight:         s.cfg.MaxRequestsInFlight,
			MaxMutatingRequestsInFlight: s.cfg.MaxMutatingRequestsInFlight,
			Loopback:                    loopback,
			Log:                         s.log.Named("flowcontrol"),
		})
	}
	if err != nil {
		// Config.Validate has refused every setting New refuses; what is
		// left is a server that cannot make its own client. Fail closed
		// and loudly rather than serve unprotected.
		s.log.Error("flow control unavailable", zap.Error(err))
		return func(c *gin.Context) {
			st := apierrors.NewInternalError(fmt.Errorf("flow control unavailable: %w", err)).Status()
			st.Kind, st.APIVersion = "Status", "v1"
			c.AbortWithStatusJSON(http.StatusInternalServerError, &st)
		}
	}
	return s.fc.filter.Middleware(requestAttributes)
}

// flowControlReconcileInterval is how often the bootstrap configuration
// is ensured again, as kube-apiserver's config producer does.
const flowControlReconcileInterval = time.Minute

// ensureFlowControl is the bootstrap step of priority and fairness: the
// mandatory and suggested FlowSchemas and PriorityLevelConfigurations are
// ensured; the first time it succeeds, the filter's controller starts,
// and the configuration is ensured again every minute (a deleted
// mandatory object comes back), for as long as ctx, the server's run
// context, lasts.
func (s *Server) ensureFlowControl(ctx context.Context) error {
	stores := ensurer.Stores{
		FlowSchemas:    s.store(flowcontrolv1.GroupName, "flowschemas"),
		PriorityLevels: s.store(flowcontrolv1.GroupName, "prioritylevelconfigurations"),
	}
	if err := ensurer.Ensure(ctx, stores); err != nil {
		return fmt.Errorf("priority and fairness configuration: %w", err)
	}
	s.fc.start.Do(func() {
		if s.fc.filter != nil {
			s.Go(ctx, s.fc.filter.Run)
		}
		s.Go(ctx, func(ctx context.Context) error {
			t := time.NewTicker(flowControlReconcileInterval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
					if err := ensurer.Ensure(ctx, stores); err != nil && ctx.Err() == nil {
						s.log.Warn("priority and fairness configuration not ensured; retrying", zap.Error(err))
					}
				}
			}
		})
	})
	return nil
}
