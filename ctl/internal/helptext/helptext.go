// Package helptext shapes the help text of ctl's commands as kubectl
// shows its own.
package helptext

import "strings"

// Examples indents an example block as kubectl's help shows it.
func Examples(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "  " + strings.TrimLeft(l, "\t")
		}
	}
	return strings.Join(lines, "\n")
}
