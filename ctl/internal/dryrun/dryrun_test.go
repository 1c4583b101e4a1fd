package dryrun

import "testing"

func TestMode(t *testing.T) {
	cases := []struct {
		name, value, want, wantErr string
	}{
		{"unset sends", "", "", ""},
		{"none sends", "none", "", ""},
		{"false sends", "false", "", ""},
		{"client only prints", "client", "client", ""},
		{"server asks the server not to persist", "server", "server", ""},
		{"a bare flag is refused", "unchanged", "", `--dry-run must be specified as "none", "server", or "client"`},
		{"true is refused", "true", "", `--dry-run must be specified as "none", "server", or "client"`},
		{"anything else is refused", "maybe", "", `Invalid dry-run value (maybe). Must be "none", "server", or "client".`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Mode(tc.value)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Mode(%q) error %v, want %q", tc.value, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Mode(%q) = %q, %v; want %q", tc.value, got, err, tc.want)
			}
			if s := Suffix(got); (got == "") != (s == "") {
				t.Errorf("Suffix(%q) = %q", got, s)
			}
		})
	}
}
