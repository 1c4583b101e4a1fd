package integration

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

func TestMain(m *testing.M) {
	// client-go's event sink logs through klog when the apiserver of a
	// finished test is gone; the tests' own loggers say what matters.
	klog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}
