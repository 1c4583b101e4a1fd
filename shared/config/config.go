// Package config merges a component's settings from its command-line flags,
// an optional YAML file and CORACLE_* environment variables, with viper.
//
// Precedence, highest first: a flag given on the command line, the
// environment (CORACLE_DATA_DIR for --data-dir), the YAML file named by
// --config (keys are the flag names: `data-dir: /var/lib/coracle`), the
// flag's default.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// EnvPrefix prefixes every environment variable Coracle reads.
const EnvPrefix = "CORACLE"

// FileFlag is the flag naming the YAML configuration file.
const FileFlag = "config"

// Load parses args into fs, reads the file named by --config if any, and
// decodes the merged settings into each of outs, pointers to structs whose
// fields carry `mapstructure:"flag-name"` tags (settings a struct has no
// field for are left to the others). A key in the file that no flag
// declares is an error naming the key and the file.
func Load(fs *pflag.FlagSet, args []string, outs ...any) error {
	if fs.Lookup(FileFlag) == nil {
		fs.String(FileFlag, "", "YAML configuration file; keys are flag names")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	v := viper.New()
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if err := v.BindPFlags(fs); err != nil {
		return fmt.Errorf("bind flags: %w", err)
	}
	path, _ := fs.GetString(FileFlag)
	if env := os.Getenv(EnvPrefix + "_CONFIG"); path == "" && env != "" {
		path = env
	}
	if path != "" {
		if err := readFile(v, fs, path); err != nil {
			return err
		}
	}
	dec := func(c *mapstructure.DecoderConfig) {
		c.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		)
		c.WeaklyTypedInput = true
	}
	for _, out := range outs {
		if err := v.Unmarshal(out, dec); err != nil {
			return fmt.Errorf("decode settings: %w", err)
		}
	}
	return nil
}

func readFile(v *viper.Viper, fs *pflag.FlagSet, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	fileViper := viper.New()
	fileViper.SetConfigType("yaml")
	if err := fileViper.ReadConfig(f); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	var unknown []string
	for _, k := range fileViper.AllKeys() {
		if k == FileFlag || fs.Lookup(k) == nil {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("config file %s: unknown keys %s (keys are the command's flag names)", path, strings.Join(unknown, ", "))
	}
	if err := v.MergeConfigMap(fileViper.AllSettings()); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// ErrHelp is returned by Load when --help was asked for.
var ErrHelp = pflag.ErrHelp

// IsHelp reports whether err asks the caller to print usage and exit 0.
func IsHelp(err error) bool { return errors.Is(err, pflag.ErrHelp) }
