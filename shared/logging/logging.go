// Package logging builds the zap logger every Coracle component uses.
package logging

import (
	"fmt"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Options select the level and the encoding of a component's logs; the
// tags are the flags AddFlags declares.
type Options struct {
	// Level is one of debug, info, warn, error.
	Level string `mapstructure:"log-level"`
	// Format is "json" (the default, for files and journald) or "console".
	Format string `mapstructure:"log-format"`
}

// AddFlags declares --log-level and --log-format with their defaults.
func AddFlags(fs *pflag.FlagSet) {
	fs.String("log-level", "info", "debug, info, warn or error")
	fs.String("log-format", "json", "json or console")
}

// New returns a logger writing to stderr.
func New(opts Options) (*zap.Logger, error) {
	level := zap.NewAtomicLevel()
	if opts.Level != "" {
		if err := level.UnmarshalText([]byte(opts.Level)); err != nil {
			return nil, fmt.Errorf("log level %q: %w", opts.Level, err)
		}
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = level
	cfg.Sampling = nil
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	switch opts.Format {
	case "", "json":
	case "console":
		cfg.Encoding = "console"
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
	default:
		return nil, fmt.Errorf("log format %q: want json or console", opts.Format)
	}
	return cfg.Build()
}
