// Package events is `ctl events`: the events of a namespace (or of one
// object), oldest first, and with -w those that come after.
package events

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/watch"
	cliprinters "k8s.io/cli-runtime/pkg/printers"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/describe"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/ctl/internal/objects"
	"coracle.dev/ctl/internal/printers"
)

// New is the events command.
func New(env *cmdenv.Env) *cobra.Command {
	var allNamespaces, watchFlag, noHeaders bool
	var forObj string
	var types []string
	cmd := &cobra.Command{
		Use:   "events [(-o|--output=)json|yaml] [--for TYPE/NAME] [--watch] [--types=Normal,Warning]",
		Short: "List events",
		Long: `Display events, oldest first.

Events tell what happened to objects: a pod scheduled, an image pulled, a
container that failed. The same list is "ctl get events --sort-by=.lastTimestamp".`,
		Example: helptext.Examples(`
# List recent events in the default namespace
ctl events

# List recent events in all namespaces
ctl events --all-namespaces

# List recent events for the specified pod, then wait for more events and list them as they arrive
ctl events --for pod/web-pod-13je7 --watch

# List only the warnings
ctl events --types=Warning`),
		RunE: func(cmd *cobra.Command, args []string) error {
			typed, err := env.Typed()
			if err != nil {
				return err
			}
			ns, _, err := env.Namespace()
			if err != nil {
				return err
			}
			if allNamespaces {
				ns = ""
			}
			var sel fields.Selector = fields.Everything()
			if forObj != "" {
				infos, err := objects.Select(cmd.Context(), env, objects.Selection{Args: []string{forObj}})
				if err != nil {
					return err
				}
				o := infos[0].Object
				sel = fields.SelectorFromSet(fields.Set{"involvedObject.kind": o.GetKind(), "involvedObject.name": o.GetName()})
			}
			list, err := typed.CoreV1().Events(ns).List(cmd.Context(), metav1.ListOptions{FieldSelector: sel.String()})
			if err != nil {
				return err
			}
			keep := func(e corev1.Event) bool {
				if len(types) == 0 {
					return true
				}
				for _, t := range types {
					if strings.EqualFold(t, e.Type) {
						return true
					}
				}
				return false
			}
			var evs []corev1.Event
			for _, e := range list.Items {
				if keep(e) {
					evs = append(evs, e)
				}
			}
			sort.SliceStable(evs, func(i, j int) bool { return describe.EventTime(evs[i]).Before(describe.EventTime(evs[j])) })
			tw := cliprinters.GetNewTabWriter(env.Out)
			if len(evs) == 0 && !watchFlag {
				fmt.Fprintln(env.ErrOut, printers.NoResources(ns, allNamespaces, true))
				return nil
			}
			if !noHeaders {
				if allNamespaces {
					fmt.Fprint(tw, "NAMESPACE\t")
				}
				fmt.Fprintln(tw, "LAST SEEN\tTYPE\tREASON\tOBJECT\tMESSAGE")
			}
			row := func(e corev1.Event) {
				if allNamespaces {
					fmt.Fprintf(tw, "%s\t", e.Namespace)
				}
				obj := strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", eventAge(e, env.Now()), e.Type, e.Reason, obj, strings.TrimSpace(e.Message))
			}
			for _, e := range evs {
				row(e)
			}
			tw.Flush()
			if !watchFlag {
				return nil
			}
			w, err := typed.CoreV1().Events(ns).Watch(cmd.Context(), metav1.ListOptions{FieldSelector: sel.String(), ResourceVersion: list.ResourceVersion})
			if err != nil {
				return err
			}
			defer w.Stop()
			for ev := range w.ResultChan() {
				e, ok := ev.Object.(*corev1.Event)
				if !ok || ev.Type == watch.Deleted || !keep(*e) {
					continue
				}
				row(*e)
				tw.Flush()
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "If present, list the requested object(s) across all namespaces.")
	cmd.Flags().BoolVarP(&watchFlag, "watch", "w", false, "After listing the requested events, watch for more events.")
	cmd.Flags().StringVar(&forObj, "for", "", "Filter events to only those pertaining to the specified resource.")
	cmd.Flags().StringSliceVar(&types, "types", nil, "Output only events of given types.")
	cmd.Flags().BoolVar(&noHeaders, "no-headers", false, "When using the default output format, don't print headers.")
	return cmd
}

// eventAge is kubectl's LAST SEEN cell: "5m", or "5m (x3 over 10m)".
func eventAge(e corev1.Event, now time.Time) string {
	age := duration.HumanDuration(now.Sub(describe.EventTime(e)))
	if e.Count > 1 && !e.FirstTimestamp.IsZero() {
		return fmt.Sprintf("%s (x%d over %s)", age, e.Count, duration.HumanDuration(now.Sub(e.FirstTimestamp.Time)))
	}
	return age
}
