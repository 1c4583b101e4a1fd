package e2e

import (
	"context"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCreateAndGetPodDisruptionBudget: ctl create pdb makes the budget
// kubectl makes from the same flags, refuses bad flags in kubectl's
// words, and ctl get pdb shows the server's columns as kubectl does.
func TestCreateAndGetPodDisruptionBudget(t *testing.T) {
	c := startCluster(t)
	k, kc := ctl(t, c), kubectl(t, c)
	ns := c.namespace(t)
	ctx := context.Background()

	k.says(t, "poddisruptionbudget.policy/web created", "-n", ns, "create", "pdb", "web", "--selector=app=web", "--min-available=50%")
	kc.says(t, "poddisruptionbudget.policy/web-kubectl created", "-n", ns, "create", "pdb", "web-kubectl", "--selector=app=web", "--min-available=50%")
	k.says(t, "poddisruptionbudget.policy/db created", "-n", ns, "create", "poddisruptionbudget", "db", "--selector=app=db,tier=data", "--max-unavailable=1")
	ours, err := c.client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := c.client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web-kubectl", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ours.Spec.MinAvailable.String() != theirs.Spec.MinAvailable.String() || ours.Spec.MaxUnavailable != nil ||
		ours.Spec.Selector.String() != theirs.Spec.Selector.String() {
		t.Errorf("ctl made spec %+v, kubectl %+v", ours.Spec, theirs.Spec)
	}

	for _, bad := range [][]string{
		{"--min-available=1"},
		{"--selector=app=web"},
		{"--selector=app=web", "--min-available=1", "--max-unavailable=1"},
		{"--selector=app=web", "--min-available=10Gb"},
	} {
		args := append([]string{"-n", ns, "create", "pdb", "bad"}, bad...)
		want := kc.run(t, args...)
		k.fails(t, want.stderr, args...)
	}

	out := k.ok(t, "-n", ns, "get", "pdb")
	tb := parseTable(out)
	if want := []string{"NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"}; !slices.Equal(tb.header, want) {
		t.Fatalf("ctl get pdb header %q, want %q\n%s", tb.header, want, out)
	}
	if r := tb.row("NAME", "db"); r == nil || r["MIN AVAILABLE"] != "N/A" || r["MAX UNAVAILABLE"] != "1" || r["ALLOWED DISRUPTIONS"] != "0" {
		t.Errorf("db row %v\n%s", r, out)
	}
	theirTable := parseTable(kc.ok(t, "-n", ns, "get", "pdb"))
	if !slices.Equal(theirTable.header, tb.header) || !slices.Equal(theirTable.column("MIN AVAILABLE"), tb.column("MIN AVAILABLE")) {
		t.Errorf("kubectl get pdb differs:\n%v\n%v", theirTable, tb)
	}
}
