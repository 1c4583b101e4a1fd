// Command ctl is Coracle's command line client: kubectl's verbs, flags
// and output against any cluster its kubeconfig names.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"coracle.dev/ctl/internal/cmd"
	"coracle.dev/ctl/internal/cmdenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cmd.Execute(ctx, os.Args[1:], cmdenv.IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.Getenv)
	stop()
	os.Exit(code)
}
