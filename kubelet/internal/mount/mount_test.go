package mount

import "testing"

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/var/lib/a\040b`: "/var/lib/a b",
		`/x\011y\012z`:    "/x\ty\nz",
		`/back\134slash`:  `/back\slash`,
		`/plain`:          "/plain",
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsPoint(t *testing.T) {
	if ok, err := IsPoint("/proc"); err != nil || !ok {
		t.Errorf("/proc: %v, %v; want a mount point", ok, err)
	}
	dir := t.TempDir()
	if ok, err := IsPoint(dir); err != nil || ok {
		t.Errorf("%s: %v, %v; want no mount point", dir, ok, err)
	}
	ps, err := Points("/proc")
	if err != nil || len(ps) == 0 || ps[len(ps)-1] != "/proc" {
		t.Errorf("Points(/proc) = %v, %v; want /proc last (deepest first)", ps, err)
	}
}
