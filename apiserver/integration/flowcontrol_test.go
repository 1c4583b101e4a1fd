package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap"
	"k8s.io/utils/ptr"
)

// TestFlowControlBootstrap: the apiserver ships Kubernetes' FlowSchemas
// and PriorityLevelConfigurations, marked as kept up to date; a
// suggested one an administrator took over (annotation false) keeps its
// edit, a deleted mandatory one comes back, and the mandatory ones refuse
// a new spec.
func TestFlowControlBootstrap(t *testing.T) {
	c := start(t)
	fc := c.client.FlowcontrolV1()
	for _, want := range append(append([]*flowcontrolv1.FlowSchema{}, bootstrap.MandatoryFlowSchemas...), bootstrap.SuggestedFlowSchemas...) {
		got, err := fc.FlowSchemas().Get(ctx(t), want.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("flow schema %s: %v", want.Name, err)
		}
		if got.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] != "true" || got.Spec.MatchingPrecedence != want.Spec.MatchingPrecedence {
			t.Errorf("flow schema %s: annotations %v, precedence %d", want.Name, got.Annotations, got.Spec.MatchingPrecedence)
		}
	}
	for _, want := range append(append([]*flowcontrolv1.PriorityLevelConfiguration{}, bootstrap.MandatoryPriorityLevelConfigurations...), bootstrap.SuggestedPriorityLevelConfigurations...) {
		if _, err := fc.PriorityLevelConfigurations().Get(ctx(t), want.Name, metav1.GetOptions{}); err != nil {
			t.Fatalf("priority level %s: %v", want.Name, err)
		}
	}

	// The mandatory specs are fixed.
	catchAll, err := fc.PriorityLevelConfigurations().Get(ctx(t), "catch-all", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	catchAll.Spec.Limited.NominalConcurrencyShares = ptr.To(int32(100))
	if _, err := fc.PriorityLevelConfigurations().Update(ctx(t), catchAll, metav1.UpdateOptions{}); err == nil {
		t.Errorf("the catch-all level's spec was changed")
	}

	// A suggested level taken over by its administrator keeps its edit
	// through the next reconciliation; a deleted mandatory schema is
	// recreated by it. The server reconciles once a minute; a restart
	// reconciles at once.
	low, err := fc.PriorityLevelConfigurations().Get(ctx(t), "workload-low", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	low.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] = "false"
	low.Spec.Limited.NominalConcurrencyShares = ptr.To(int32(7))
	if _, err := fc.PriorityLevelConfigurations().Update(ctx(t), low, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	global, err := fc.PriorityLevelConfigurations().Get(ctx(t), "global-default", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	global.Spec.Limited.NominalConcurrencyShares = ptr.To(int32(9))
	if _, err := fc.PriorityLevelConfigurations().Update(ctx(t), global, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := fc.FlowSchemas().Delete(ctx(t), "catch-all", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Restart()
	c = newCluster(t, c.TestServer)
	fc = c.client.FlowcontrolV1()
	if low, err = fc.PriorityLevelConfigurations().Get(ctx(t), "workload-low", metav1.GetOptions{}); err != nil || *low.Spec.Limited.NominalConcurrencyShares != 7 {
		t.Errorf("workload-low after a restart: %v, %v", err, low.Spec.Limited)
	}
	// Changed but still annotated true: put back.
	if global, err = fc.PriorityLevelConfigurations().Get(ctx(t), "global-default", metav1.GetOptions{}); err != nil || *global.Spec.Limited.NominalConcurrencyShares != 20 {
		t.Errorf("global-default after a restart: %v, %v", err, global.Spec.Limited)
	}
	if _, err := fc.FlowSchemas().Get(ctx(t), "catch-all", metav1.GetOptions{}); err != nil {
		t.Errorf("catch-all after a restart: %v", err)
	}
}

// TestFlowControlQueuesAndRejects: a user whose FlowSchema sends them to
// a level with a few seats and one queue of one has their requests run
// until the seats are taken, then queued, then refused with 429 and
// Retry-After; every answer names the schema and level by UID; the
// queued request runs once seats free up; system:masters is never held
// back.
func TestFlowControlQueuesAndRejects(t *testing.T) {
	c := start(t)
	const user, plName, fsName = "apf-noxu", "apf-test-tiny", "apf-test-noxu"
	fc := c.client.FlowcontrolV1()
	pl, err := fc.PriorityLevelConfigurations().Create(ctx(t), &flowcontrolv1.PriorityLevelConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: plName},
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
			Type: flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
				// One share of ~250: a few seats, none borrowed.
				NominalConcurrencyShares: ptr.To(int32(1)),
				BorrowingLimitPercent:    ptr.To(int32(0)),
				LimitResponse: flowcontrolv1.LimitResponse{
					Type:    flowcontrolv1.LimitResponseTypeQueue,
					Queuing: &flowcontrolv1.QueuingConfiguration{Queues: 1, HandSize: 1, QueueLengthLimit: 1},
				},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all := flowcontrolv1.PolicyRulesWithSubjects{
		Subjects: []flowcontrolv1.Subject{{Kind: flowcontrolv1.SubjectKindUser, User: &flowcontrolv1.UserSubject{Name: user}}},
		ResourceRules: []flowcontrolv1.ResourcePolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"},
			Namespaces: []string{"*"}, ClusterScope: true}},
		NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}},
	}
	fs, err := fc.FlowSchemas().Create(ctx(t), &flowcontrolv1.FlowSchema{
		ObjectMeta: metav1.ObjectMeta{Name: fsName},
		Spec: flowcontrolv1.FlowSchemaSpec{
			PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: plName},
			MatchingPrecedence:         100,
			DistinguisherMethod:        &flowcontrolv1.FlowDistinguisherMethod{Type: flowcontrolv1.FlowDistinguisherMethodByUserType},
			Rules:                      []flowcontrolv1.PolicyRulesWithSubjects{all},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The user may create and list ConfigMaps: requests that get past
	// authorization and run in the handler, where a create reads its
	// body, which the test holds back.
	if _, err := c.client.RbacV1().ClusterRoles().Create(ctx(t), &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "apf-test"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create", "list"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.RbacV1().ClusterRoleBindings().Create(ctx(t), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "apf-test"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "apf-test"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	asUser := http.Header{"Impersonate-User": {user}}
	list := func() response {
		return doWith(t, c.http, c.Server.URL(), http.MethodGet, "/api/v1/namespaces/default/configmaps", "", nil, asUser)
	}
	// The controller takes the new objects up from its informers.
	eventually(t, 30*time.Second, "the user's requests classified into the test level", func() (bool, error) {
		r := list()
		got := r.header.Get(flowcontrolv1.ResponseHeaderMatchedPriorityLevelConfigurationUID)
		return r.code == http.StatusOK && got == string(pl.UID) &&
			r.header.Get(flowcontrolv1.ResponseHeaderMatchedFlowSchemaUID) == string(fs.UID), fmt.Errorf("%d, level %q", r.code, got)
	})
	admin := c.do(t, http.MethodGet, "/api/v1/namespaces/default/configmaps", "", nil)
	exemptPL, err := fc.PriorityLevelConfigurations().Get(ctx(t), "exempt", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := admin.header.Get(flowcontrolv1.ResponseHeaderMatchedPriorityLevelConfigurationUID); got != string(exemptPL.UID) {
		t.Errorf("system:masters served by level %q, want exempt's %q", got, exemptPL.UID)
	}

	// Creates whose bodies are held: each takes a seat until its body
	// comes, or waits in the queue. They are sent one at a time, until
	// one is seen queued.
	var held []*heldRequest
	t.Cleanup(func() {
		for _, h := range held {
			h.release("")
		}
	})
	labels := map[string]string{"priority_level": plName, "flow_schema": fsName}
	for queued := false; !queued; {
		if len(held) == 20 {
			t.Fatalf("20 requests neither queued nor refused: the level's seats are not limited")
		}
		held = append(held, c.holdCreate(t, user, len(held)))
		eventually(t, 30*time.Second, fmt.Sprintf("request %d executing or queued", len(held)), func() (bool, error) {
			executing, inQueue := c.metric(t, "apiserver_flowcontrol_current_executing_requests", labels), c.metric(t, "apiserver_flowcontrol_current_inqueue_requests", labels)
			queued = inQueue == 1
			return int(executing+inQueue) == len(held), fmt.Errorf("%v executing, %v in queue", executing, inQueue)
		})
	}
	seats := len(held) - 1
	t.Logf("%d requests took the level's seats, the next one queued", seats)
	if nominal := c.metric(t, "apiserver_flowcontrol_nominal_limit_seats", map[string]string{"priority_level": plName}); int(nominal) != seats {
		t.Errorf("%d requests ran at once, the level's nominal limit is %v seats", seats, nominal)
	}

	// Seats taken, queue full: refused at once.
	r := list()
	if r.code != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("with the queue full: %d, Retry-After %q: %s; want 429 with Retry-After", r.code, r.header.Get("Retry-After"), r.body)
	}
	if r.header.Get(flowcontrolv1.ResponseHeaderMatchedPriorityLevelConfigurationUID) != string(pl.UID) ||
		r.header.Get(flowcontrolv1.ResponseHeaderMatchedFlowSchemaUID) != string(fs.UID) {
		t.Errorf("the refusal's headers %v do not name the schema and level", r.header)
	}
	if n := c.metric(t, "apiserver_flowcontrol_rejected_requests_total", map[string]string{"priority_level": plName, "flow_schema": fsName, "reason": "queue-full"}); n < 1 {
		t.Errorf("rejected_requests_total{reason=queue-full} = %v", n)
	}

	// system:masters is exempt: many requests at once, all served.
	var wg sync.WaitGroup
	codes := make(chan int, 10)
	for i := 0; i < cap(codes); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- c.do(t, http.MethodGet, "/api/v1/namespaces/default/configmaps", "", nil).code
		}()
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("system:masters got %d while the user's level is full", code)
		}
	}

	// Bodies sent: every held request runs, the queued one too.
	for i, h := range held {
		h.release(fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"held-%d"}}`, i))
	}
	for i, h := range held {
		if code := h.wait(t); code != http.StatusCreated {
			t.Errorf("held request %d: %d, want 201", i, code)
		}
	}
	if r := list(); r.code != http.StatusOK {
		t.Errorf("after the release: %d", r.code)
	}
}

// heldRequest is a create sent with a body that comes only on release.
type heldRequest struct {
	body *io.PipeWriter
	done chan int
	once sync.Once
}

// holdCreate sends a ConfigMap create as user, impersonated by the admin,
// whose body the server waits for until release.
func (c *cluster) holdCreate(t *testing.T, user string, i int) *heldRequest {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, c.Server.URL()+"/api/v1/namespaces/default/configmaps", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Impersonate-User", user)
	h := &heldRequest{body: pw, done: make(chan int, 1)}
	go func() {
		resp, err := c.http.Do(req)
		if err != nil {
			h.done <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		h.done <- resp.StatusCode
	}()
	return h
}

// release sends body and ends the request's body.
func (h *heldRequest) release(body string) {
	h.once.Do(func() {
		go func() {
			_, _ = io.Copy(h.body, bytes.NewReader([]byte(body)))
			h.body.Close()
		}()
	})
}

func (h *heldRequest) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-h.done:
		return code
	case <-time.After(60 * time.Second):
		t.Fatal("held request never answered")
		return 0
	}
}

// metric reads one sample of /metrics whose labels include want; 0 when
// there is none.
func (c *cluster) metric(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	r := c.do(t, http.MethodGet, "/metrics", "", nil)
	if r.code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", r.code, r.body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	mf, ok := families[name]
	if !ok {
		return 0
	}
	var sum float64
	for _, m := range mf.GetMetric() {
		matched := 0
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
				matched++
			}
		}
		if matched != len(want) {
			continue
		}
		switch {
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// TestFlowControlAPIOperations is the conformance suite's "should support
// FlowSchema API operations" and its PriorityLevelConfiguration twin, in
// short: both kinds and their status are discovered, and every verb works,
// status patch and update included, each writing only its part.
func TestFlowControlAPIOperations(t *testing.T) {
	c := start(t)
	resources, err := c.client.Discovery().ServerResourcesForGroupVersion(flowcontrolv1.SchemeGroupVersion.String())
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, r := range resources.APIResources {
		found[r.Name] = true
		if (r.Name == "flowschemas" || r.Name == "prioritylevelconfigurations") && r.Namespaced {
			t.Errorf("%s is namespaced", r.Name)
		}
	}
	for _, name := range []string{"flowschemas", "flowschemas/status", "prioritylevelconfigurations", "prioritylevelconfigurations/status"} {
		if !found[name] {
			t.Errorf("discovery lacks %s: %v", name, found)
		}
	}

	fss := c.client.FlowcontrolV1().FlowSchemas()
	label := map[string]string{"e2e-fs": "ops"}
	template := &flowcontrolv1.FlowSchema{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-example-fs-", Labels: label},
		Spec: flowcontrolv1.FlowSchemaSpec{
			MatchingPrecedence:         10000,
			PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "global-default"},
			DistinguisherMethod:        &flowcontrolv1.FlowDistinguisherMethod{Type: flowcontrolv1.FlowDistinguisherMethodByUserType},
			Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
				Subjects:         []flowcontrolv1.Subject{{Kind: flowcontrolv1.SubjectKindUser, User: &flowcontrolv1.UserSubject{Name: "example-e2e-non-existent-user"}}},
				NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}},
			}},
		},
	}
	var created *flowcontrolv1.FlowSchema
	for i := 0; i < 3; i++ {
		if created, err = fss.Create(ctx(t), template, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if created.Generation != 1 {
		t.Errorf("generation %d after create", created.Generation)
	}
	selector := metav1.ListOptions{LabelSelector: "e2e-fs=ops"}
	list, err := fss.List(ctx(t), selector)
	if err != nil || len(list.Items) != 3 {
		t.Fatalf("list: %v, %d items", err, len(list.Items))
	}
	patched, err := fss.Patch(ctx(t), created.Name, "application/merge-patch+json",
		[]byte(`{"metadata":{"annotations":{"patched":"true"}},"spec":{"matchingPrecedence":9999}}`), metav1.PatchOptions{})
	if err != nil || patched.Spec.MatchingPrecedence != 9999 || patched.Generation != 2 {
		t.Fatalf("patch: %v, %+v", err, patched)
	}
	statusPatched, err := fss.Patch(ctx(t), created.Name, "application/merge-patch+json",
		[]byte(`{"status":{"conditions":[{"type":"PatchStatusFailed","status":"False","reason":"e2e"}]},"spec":{"matchingPrecedence":5}}`), metav1.PatchOptions{}, "status")
	if err != nil {
		t.Fatal(err)
	}
	if len(statusPatched.Status.Conditions) == 0 || statusPatched.Spec.MatchingPrecedence != 9999 || statusPatched.Generation != 2 {
		t.Errorf("status patch: conditions %v, precedence %d, generation %d", statusPatched.Status.Conditions, statusPatched.Spec.MatchingPrecedence, statusPatched.Generation)
	}
	statusPatched.Status.Conditions = append(statusPatched.Status.Conditions, flowcontrolv1.FlowSchemaCondition{
		Type: "StatusUpdateFailed", Status: flowcontrolv1.ConditionFalse, Reason: "E2E", Message: "Set from an e2e test"})
	if updated, err := fss.UpdateStatus(ctx(t), statusPatched, metav1.UpdateOptions{}); err != nil || len(updated.Status.Conditions) < 2 {
		t.Errorf("update status: %v", err)
	}
	// A spec write keeps the status.
	cur, err := fss.Get(ctx(t), created.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.MatchingPrecedence = 9000
	cur.Status = flowcontrolv1.FlowSchemaStatus{}
	if updated, err := fss.Update(ctx(t), cur, metav1.UpdateOptions{}); err != nil || updated.Spec.MatchingPrecedence != 9000 || len(updated.Status.Conditions) < 2 {
		t.Errorf("update: %v, %+v", err, updated)
	}
	if err := fss.Delete(ctx(t), created.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := fss.DeleteCollection(ctx(t), metav1.DeleteOptions{}, selector); err != nil {
		t.Fatal(err)
	}
	if list, err := fss.List(ctx(t), selector); err != nil || len(list.Items) != 0 {
		t.Errorf("after deletecollection: %v, %d items", err, len(list.Items))
	}

	pls := c.client.FlowcontrolV1().PriorityLevelConfigurations()
	pl, err := pls.Create(ctx(t), &flowcontrolv1.PriorityLevelConfiguration{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-example-pl-"},
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pl.Spec.Limited.NominalConcurrencyShares == nil || *pl.Spec.Limited.NominalConcurrencyShares != 30 {
		t.Errorf("nominalConcurrencyShares not defaulted to 30: %+v", pl.Spec.Limited)
	}
	if _, err := pls.Patch(ctx(t), pl.Name, "application/merge-patch+json",
		[]byte(`{"status":{"conditions":[{"type":"PatchStatusFailed","status":"False","reason":"e2e"}]}}`), metav1.PatchOptions{}, "status"); err != nil {
		t.Errorf("priority level status patch: %v", err)
	}
	// kubectl get's columns.
	table := doWith(t, c.http, c.Server.URL(), http.MethodGet, "/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations/"+pl.Name, "", nil,
		http.Header{"Accept": {"application/json;as=Table;v=v1;g=meta.k8s.io"}})
	var tbl metav1.Table
	if err := json.Unmarshal(table.body, &tbl); err != nil || table.code != http.StatusOK || len(tbl.Rows) != 1 || len(tbl.ColumnDefinitions) != 7 {
		t.Fatalf("table: %v, %d %s", err, table.code, table.body)
	}
	if cells := tbl.Rows[0].Cells; tbl.ColumnDefinitions[2].Name != "NominalConcurrencyShares" || cells[1] != "Limited" || cells[2] != float64(30) || cells[3] != "<none>" {
		t.Errorf("table row %v", cells)
	}
}
