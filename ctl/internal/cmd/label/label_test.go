package label

import (
	"slices"
	"testing"
)

func TestParseChanges(t *testing.T) {
	res, set, remove, err := parseChanges([]string{"pods", "web", "app=v", "tier-", "x=y"}, "labels")
	if err != nil || !slices.Equal(res, []string{"pods", "web"}) || set["app"] != "v" || set["x"] != "y" || !slices.Equal(remove, []string{"tier"}) {
		t.Fatalf("got %v %v %v %v", res, set, remove, err)
	}
	if _, _, _, err := parseChanges([]string{"pods", "a=b", "web"}, "labels"); err == nil {
		t.Error("a resource after a change was accepted")
	}
	if _, _, _, err := parseChanges([]string{"pods", "web", "bad key=v"}, "labels"); err == nil {
		t.Error("an invalid key was accepted")
	}
}
