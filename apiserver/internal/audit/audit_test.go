package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
)

// syncBuffer is a log the test reads while handlers write it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// events decodes every logged line.
func (b *syncBuffer) events(t *testing.T) []auditv1.Event {
	t.Helper()
	var out []auditv1.Event
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var ev auditv1.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, ev)
	}
	return out
}

var alice = &authn.User{Name: "alice", UID: "u-1", Groups: []string{"devs", "system:authenticated"},
	Extra: map[string][]string{"scope": {"a"}}}

// attributesOf parses the few paths the tests use, as the apiserver's
// request-info parser does.
func attributesOf(r *http.Request) authz.Attributes {
	a := authz.Attributes{User: alice, Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 3 || parts[0] != "api" {
		return a
	}
	a.ResourceRequest, a.APIVersion = true, parts[1]
	rest := parts[2:]
	if rest[0] == "namespaces" && len(rest) > 2 {
		a.Namespace, rest = rest[1], rest[2:]
	}
	a.Resource = rest[0]
	if len(rest) > 1 {
		a.Name = rest[1]
	}
	if len(rest) > 2 {
		a.Subresource = rest[2]
	}
	switch {
	case r.URL.Query().Get("watch") == "1":
		a.Verb = "watch"
	case r.Method == http.MethodGet && a.Name == "":
		a.Verb = "list"
	case r.Method == http.MethodPost:
		a.Verb = "create"
	case r.Method == http.MethodPut:
		a.Verb = "update"
	}
	return a
}

const handlerPolicy = `
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  nonResourceURLs: [/healthz]
- level: Metadata
  resources: [{resources: [secrets]}]
  omitStages: [RequestReceived]
- level: RequestResponse
  resources: [{resources: [configmaps]}]
  omitManagedFields: true
- level: Request
  verbs: [create, update]
- level: Metadata
`

// server serves h behind the audit Handler and returns its URL and log.
func server(t *testing.T, h http.Handler, opts Options) (string, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	l := NewWithWriter(mustPolicy(t, handlerPolicy), log, opts)
	authorize := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		EntryFrom(r.Context()).Authorized(authz.DecisionAllow, `RBAC: allowed by ClusterRoleBinding "x"`, nil)
		h.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(l.Handler(authorize, attributesOf))
	t.Cleanup(srv.Close)
	return srv.URL, log
}

func do(t *testing.T, method, url, contentType, body string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "audit-test/1.0")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// echo answers with the request body, as a create returns the object.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(body)
})

func TestMetadataEvent(t *testing.T) {
	url, log := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"PodList","items":[]}`))
	}), Options{})
	resp := do(t, http.MethodGet, url+"/api/v1/namespaces/default/pods?limit=5", "", "", "X-Forwarded-For", "10.1.1.1")
	id := resp.Header.Get("Audit-ID")
	if id == "" {
		t.Fatal("no Audit-ID header")
	}
	evs := log.events(t)
	if len(evs) != 2 || evs[0].Stage != auditv1.StageRequestReceived || evs[1].Stage != auditv1.StageResponseComplete {
		t.Fatalf("events %+v", evs)
	}
	ev := evs[1]
	if string(ev.AuditID) != id || evs[0].AuditID != ev.AuditID {
		t.Errorf("auditID %q, header %q", ev.AuditID, id)
	}
	if ev.Kind != "Event" || ev.APIVersion != "audit.k8s.io/v1" || ev.Level != auditv1.LevelMetadata {
		t.Errorf("kind %q apiVersion %q level %q", ev.Kind, ev.APIVersion, ev.Level)
	}
	if ev.Verb != "list" || ev.RequestURI != "/api/v1/namespaces/default/pods?limit=5" || ev.UserAgent != "audit-test/1.0" {
		t.Errorf("verb %q uri %q ua %q", ev.Verb, ev.RequestURI, ev.UserAgent)
	}
	if ev.User.Username != "alice" || ev.User.UID != "u-1" || len(ev.User.Groups) != 2 || ev.User.Extra["scope"][0] != "a" {
		t.Errorf("user %+v", ev.User)
	}
	if len(ev.SourceIPs) != 2 || ev.SourceIPs[0] != "10.1.1.1" || ev.SourceIPs[1] != "127.0.0.1" {
		t.Errorf("sourceIPs %v", ev.SourceIPs)
	}
	if ref := ev.ObjectRef; ref == nil || ref.Resource != "pods" || ref.Namespace != "default" || ref.APIVersion != "v1" || ref.Name != "" {
		t.Errorf("objectRef %+v", ev.ObjectRef)
	}
	if ev.ResponseStatus == nil || ev.ResponseStatus.Code != 200 || ev.RequestObject != nil || ev.ResponseObject != nil {
		t.Errorf("responseStatus %+v requestObject %v responseObject %v", ev.ResponseStatus, ev.RequestObject, ev.ResponseObject)
	}
	if ev.Annotations[DecisionAnnotation] != "allow" || !strings.Contains(ev.Annotations[ReasonAnnotation], "ClusterRoleBinding") {
		t.Errorf("annotations %v", ev.Annotations)
	}
	if !ev.StageTimestamp.After(ev.RequestReceivedTimestamp.Time) && !ev.StageTimestamp.Equal(&ev.RequestReceivedTimestamp) {
		t.Errorf("stage %v before received %v", ev.StageTimestamp, ev.RequestReceivedTimestamp)
	}
}

func TestRequestLevelLogsTheRequestBody(t *testing.T) {
	url, log := server(t, echo, Options{})
	body := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"default"},"spec":{"containers":[{"name":"c","image":"nginx"}]}}`
	do(t, http.MethodPost, url+"/api/v1/namespaces/default/pods", "application/json", body)
	ev := log.events(t)[1]
	if ev.Level != auditv1.LevelRequest || ev.RequestObject == nil || ev.ResponseObject != nil {
		t.Fatalf("level %s requestObject %v responseObject %v", ev.Level, ev.RequestObject, ev.ResponseObject)
	}
	if string(ev.RequestObject.Raw) != body {
		t.Errorf("requestObject %s", ev.RequestObject.Raw)
	}
	if ev.ObjectRef.Name != "web" || ev.ResponseStatus.Code != 201 {
		t.Errorf("objectRef %+v status %+v", ev.ObjectRef, ev.ResponseStatus)
	}
}

func TestYAMLBodiesAreLoggedAsJSON(t *testing.T) {
	url, log := server(t, echo, Options{})
	do(t, http.MethodPost, url+"/api/v1/namespaces/default/services", "application/yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\n")
	ev := log.events(t)[1]
	if ev.RequestObject == nil || string(ev.RequestObject.Raw) != `{"apiVersion":"v1","kind":"Service","metadata":{"name":"svc"}}` {
		t.Fatalf("requestObject %v", ev.RequestObject)
	}
}

func TestRequestResponseLevelDropsManagedFields(t *testing.T) {
	url, log := server(t, echo, Options{})
	body := `{"kind":"ConfigMap","metadata":{"name":"c","managedFields":[{"manager":"kubectl"}]},"data":{"n":"12345678901234567890"}}`
	do(t, http.MethodPut, url+"/api/v1/namespaces/default/configmaps/c", "application/json", body)
	ev := log.events(t)[1]
	if ev.Level != auditv1.LevelRequestResponse || ev.RequestObject == nil || ev.ResponseObject == nil {
		t.Fatalf("event %+v", ev)
	}
	for name, raw := range map[string][]byte{"request": ev.RequestObject.Raw, "response": ev.ResponseObject.Raw} {
		if bytes.Contains(raw, []byte("managedFields")) || !bytes.Contains(raw, []byte(`"12345678901234567890"`)) {
			t.Errorf("%s object %s", name, raw)
		}
	}
}

// TestSecretBodiesNeverReachTheLog: at Metadata, a Secret's data is not
// logged, though the created Secret's name is.
func TestSecretBodiesNeverReachTheLog(t *testing.T) {
	url, log := server(t, echo, Options{})
	do(t, http.MethodPost, url+"/api/v1/namespaces/default/secrets", "application/json",
		`{"kind":"Secret","metadata":{"name":"db"},"stringData":{"password":"hunter2"}}`)
	if strings.Contains(log.String(), "hunter2") {
		t.Fatalf("secret data in the audit log: %s", log.String())
	}
	evs := log.events(t)
	if len(evs) != 1 || evs[0].Stage != auditv1.StageResponseComplete || evs[0].ObjectRef.Name != "db" {
		t.Fatalf("events %+v", evs)
	}
}

func TestFailureStatus(t *testing.T) {
	url, log := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"pods"},"code":404}`))
	}), Options{})
	do(t, http.MethodGet, url+"/api/v1/namespaces/default/pods/x", "", "")
	st := log.events(t)[1].ResponseStatus
	if st == nil || st.Code != 404 || st.Status != "Failure" || st.Reason != "NotFound" || st.Message != `pods "x" not found` || st.Details.Name != "x" {
		t.Fatalf("responseStatus %+v", st)
	}
}

func TestLargeBodiesAreLeftOut(t *testing.T) {
	url, log := server(t, echo, Options{MaxBodyBytes: 64})
	body := `{"kind":"Pod","metadata":{"name":"big"},"spec":{"x":"` + strings.Repeat("a", 200) + `"}}`
	do(t, http.MethodPost, url+"/api/v1/namespaces/default/pods", "application/json", body)
	ev := log.events(t)[1]
	if ev.RequestObject != nil || ev.Annotations[TruncatedAnnotation] != "true" {
		t.Fatalf("requestObject %v annotations %v", ev.RequestObject, ev.Annotations)
	}
}

func TestNoneLevelStillEchoesTheAuditID(t *testing.T) {
	url, log := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}), Options{})
	resp := do(t, http.MethodGet, url+"/healthz", "", "", "Audit-ID", "client-chosen-id")
	if resp.Header.Get("Audit-ID") != "client-chosen-id" {
		t.Fatalf("Audit-ID %q", resp.Header.Get("Audit-ID"))
	}
	if log.String() != "" {
		t.Fatalf("logged %s", log.String())
	}
	// Audit off: gin still answers with an Audit-ID.
	gin.SetMode(gin.ReleaseMode)
	engine := gin.New()
	engine.Use((*Logger)(nil).Middleware(func(*gin.Context) authz.Attributes {
		t.Error("attributes computed with audit off")
		return authz.Attributes{}
	}))
	engine.GET("/version", func(c *gin.Context) { c.String(http.StatusOK, "v") })
	rec := httptest.NewRecorder()
	engine.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/version", nil))
	if rec.Header().Get("Audit-ID") == "" || rec.Body.String() != "v" {
		t.Fatalf("audit off: header %v body %q", rec.Header(), rec.Body.String())
	}
	if got := (*Logger)(nil).Begin(httptest.NewRequest(http.MethodGet, "/", nil), authz.Attributes{}); got.ID() == "" || got.Level() != auditv1.LevelNone {
		t.Fatalf("nil logger entry: id %q level %s", got.ID(), got.Level())
	}
}

// TestWatchLogsResponseStartedWhileStreaming: a long-running request logs
// ResponseStarted as soon as the stream begins, its flushes reach the
// client at once, and ResponseComplete follows when it ends.
func TestWatchLogsResponseStartedWhileStreaming(t *testing.T) {
	release := make(chan struct{})
	url, log := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"type":"ADDED","object":{}}` + "\n"))
		w.(http.Flusher).Flush()
		<-release
		_, _ = w.Write([]byte(`{"type":"DELETED","object":{}}` + "\n"))
	}), Options{})
	resp, err := http.Get(url + "/api/v1/namespaces/default/pods?watch=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, "ADDED") {
		t.Fatalf("first event %q %v", line, err)
	}
	evs := log.events(t)
	if len(evs) != 2 || evs[1].Stage != auditv1.StageResponseStarted || evs[1].Verb != "watch" || evs[1].ResponseStatus.Code != 200 {
		t.Fatalf("while streaming: %+v", evs)
	}
	close(release)
	_, _ = io.Copy(io.Discard, resp.Body)
	waitFor(t, func() bool { return len(log.events(t)) == 3 })
	if ev := log.events(t)[2]; ev.Stage != auditv1.StageResponseComplete || ev.ResponseObject != nil {
		t.Fatalf("end: %+v", ev)
	}
}

func TestHijackIsLoggedAsSwitchingProtocols(t *testing.T) {
	url, log := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\nstream")
		_ = buf.Flush()
	}), Options{})
	req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/namespaces/default/pods/web/exec?command=sh", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "SPDY/3.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	waitFor(t, func() bool { return len(log.events(t)) == 3 })
	evs := log.events(t)
	if evs[1].Stage != auditv1.StageResponseStarted || evs[1].ResponseStatus.Code != 101 || evs[1].ObjectRef.Subresource != "exec" {
		t.Fatalf("events %+v", evs)
	}
}

func TestPanicIsLogged(t *testing.T) {
	log := &syncBuffer{}
	l := NewWithWriter(mustPolicy(t, handlerPolicy), log, Options{})
	h := l.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), attributesOf)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not go on")
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/api/v1/nodes", nil))
	}()
	evs := log.events(t)
	if len(evs) != 2 || evs[1].Stage != auditv1.StagePanic || evs[1].ResponseStatus.Code != 500 ||
		!strings.Contains(evs[1].ResponseStatus.Message, "APIServer panic'd: boom") {
		t.Fatalf("events %+v", evs)
	}
}

func TestAuthorizationAnnotations(t *testing.T) {
	tests := []struct {
		name     string
		decision authz.Decision
		err      error
		want     map[string]string
	}{
		{"allowed", authz.DecisionAllow, nil, map[string]string{DecisionAnnotation: "allow", ReasonAnnotation: "why"}},
		{"forbidden", authz.DecisionNoOpinion, nil, map[string]string{DecisionAnnotation: "forbid", ReasonAnnotation: "why"}},
		{"error", authz.DecisionNoOpinion, errors.New("x"), map[string]string{ReasonAnnotation: "internal error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &syncBuffer{}
			l := NewWithWriter(mustPolicy(t, handlerPolicy), log, Options{})
			r := httptest.NewRequest(http.MethodGet, "/api/v1/nodes", nil)
			e := l.Begin(r, attributesOf(r))
			e.Authorized(tt.decision, "why", tt.err)
			e.Finish()
			got := log.events(t)[1].Annotations
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("annotations %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFailedAuthentication(t *testing.T) {
	log := &syncBuffer{}
	l := NewWithWriter(mustPolicy(t, handlerPolicy), log, Options{})
	r := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default/pods", nil)
	r.Header.Set("Authorization", "Bearer nope")
	w := httptest.NewRecorder()
	a := attributesOf(r)
	a.User = nil
	l.FailedAuthentication(w, r, a)
	if w.Header().Get("Audit-ID") == "" {
		t.Fatal("no Audit-ID")
	}
	evs := log.events(t)
	if len(evs) != 1 || evs[0].Stage != auditv1.StageResponseStarted || evs[0].ResponseStatus.Code != 401 ||
		evs[0].ResponseStatus.Message != "Authentication failed, attempted: bearer" || evs[0].User.Username != "" {
		t.Fatalf("events %+v", evs)
	}
}

func TestImpersonatedUser(t *testing.T) {
	log := &syncBuffer{}
	l := NewWithWriter(mustPolicy(t, handlerPolicy), log, Options{})
	r := httptest.NewRequest(http.MethodGet, "/api/v1/nodes", nil)
	e := l.Begin(r, attributesOf(r))
	e.SetImpersonatedUser(&authn.User{Name: "bob", Groups: []string{"system:authenticated"}})
	e.Finish()
	e.Finish()
	evs := log.events(t)
	if len(evs) != 2 || evs[1].ImpersonatedUser == nil || evs[1].ImpersonatedUser.Username != "bob" || evs[1].User.Username != "alice" {
		t.Fatalf("events %+v", evs)
	}
}

// TestGinMiddleware runs the gin flavour with a handler that only sets a
// status, one that renders JSON, and a streaming one.
func TestGinMiddleware(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	log := &syncBuffer{}
	l := NewWithWriter(mustPolicy(t, handlerPolicy), log, Options{})
	r := gin.New()
	r.Use(l.Middleware(func(c *gin.Context) authz.Attributes { return attributesOf(c.Request) }))
	r.Use(func(c *gin.Context) {
		if strings.HasSuffix(c.Request.URL.Path, "/forbidden") {
			EntryFrom(c.Request.Context()).Authorized(authz.DecisionNoOpinion, "", nil)
			c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"kind": "Status", "status": "Failure", "reason": "Forbidden", "message": "nope", "code": 403})
			return
		}
		c.Next()
	})
	r.DELETE("/api/v1/namespaces/:ns/pods/:name", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	r.POST("/api/v1/namespaces/:ns/configmaps", func(c *gin.Context) {
		body, _ := io.ReadAll(c.Request.Body)
		c.Data(http.StatusCreated, "application/json", body)
	})
	r.GET("/api/v1/namespaces/:ns/pods/:name/log", func(c *gin.Context) {
		c.Writer.WriteHeaderNow()
		c.Writer.Flush()
		_, _ = c.Writer.WriteString("line\n")
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	do(t, http.MethodDelete, srv.URL+"/api/v1/namespaces/default/pods/web", "", "")
	do(t, http.MethodPost, srv.URL+"/api/v1/namespaces/default/configmaps", "application/json", `{"kind":"ConfigMap","metadata":{"name":"c"}}`)
	do(t, http.MethodGet, srv.URL+"/api/v1/namespaces/default/pods/web/log", "", "")
	resp := do(t, http.MethodGet, srv.URL+"/api/v1/namespaces/default/pods/forbidden", "", "")
	if resp.Header.Get("Audit-ID") == "" {
		t.Fatal("no Audit-ID header through gin")
	}
	byStage := map[string][]auditv1.Event{}
	for _, ev := range log.events(t) {
		key := ev.ObjectRef.Resource + "/" + ev.ObjectRef.Subresource + " " + ev.RequestURI
		byStage[key] = append(byStage[key], ev)
	}
	if evs := byStage["pods/ /api/v1/namespaces/default/pods/web"]; len(evs) != 2 || evs[1].ResponseStatus.Code != 204 {
		t.Errorf("delete: %+v", evs)
	}
	if evs := byStage["configmaps/ /api/v1/namespaces/default/configmaps"]; len(evs) != 2 || evs[1].ResponseObject == nil || evs[1].ResponseStatus.Code != 201 {
		t.Errorf("create configmap: %+v", evs)
	}
	if evs := byStage["pods/log /api/v1/namespaces/default/pods/web/log"]; len(evs) != 3 || evs[1].Stage != auditv1.StageResponseStarted || evs[2].Stage != auditv1.StageResponseComplete {
		t.Errorf("logs: %+v", evs)
	}
	evs := byStage["pods/ /api/v1/namespaces/default/pods/forbidden"]
	if len(evs) != 2 || evs[1].ResponseStatus.Code != 403 || evs[1].ResponseStatus.Message != "nope" || evs[1].Annotations[DecisionAnnotation] != "forbid" {
		t.Errorf("forbidden: %+v", evs)
	}
}

func TestNewOpensTheLog(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if l, err := New(Options{PolicyFile: policy}); l != nil || err != nil {
		t.Fatalf("without a path: %v %v", l, err)
	}
	if l, err := New(Options{Path: filepath.Join(dir, "x.log")}); l != nil || err != nil {
		t.Fatalf("without a policy: %v %v", l, err)
	}
	if _, err := New(Options{PolicyFile: policy, Path: filepath.Join(dir, "x.log"), Format: "legacy"}); err == nil {
		t.Fatal("legacy format accepted")
	}
	if _, err := New(Options{PolicyFile: policy, Path: filepath.Join(dir, "x.log"), MaxAge: -1}); err == nil {
		t.Fatal("negative maxage accepted")
	}

	path := filepath.Join(dir, "audit", "audit.log")
	l, err := New(Options{PolicyFile: policy, Path: path, MaxSize: 1, MaxBackups: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("log file: %v %v", fi, err)
	}
	// Past 1 MB the file rotates, keeping a backup.
	r := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default/pods?x="+strings.Repeat("a", 2000), nil)
	for i := 0; i < 700; i++ {
		l.Begin(r, attributesOf(r)).Finish()
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil || len(entries) < 2 {
		t.Fatalf("after 2.8 MB of events the log directory holds %d files (%v)", len(entries), err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	var ev auditv1.Event
	if err := json.Unmarshal([]byte(first), &ev); err != nil || ev.Stage == "" {
		t.Fatalf("first line of the current file: %q %v", first, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
