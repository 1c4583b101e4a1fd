package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
)

// Annotation keys and values upstream's filters set.
const (
	DecisionAnnotation = "authorization.k8s.io/decision"
	ReasonAnnotation   = "authorization.k8s.io/reason"
	DecisionAllow      = "allow"
	DecisionForbid     = "forbid"
	// TruncatedAnnotation marks an event whose request or response body
	// was left out for its size.
	TruncatedAnnotation = "audit.k8s.io/truncated"
)

const (
	maxUserAgentLength      = 1024
	userAgentTruncateSuffix = "...TRUNCATED"
)

// longRunningVerbs and longRunningSubresources are kube-apiserver's
// long-running requests: they log ResponseStarted when the response
// begins, and ResponseComplete when it ends.
var (
	longRunningVerbs        = []string{"watch", "proxy"}
	longRunningSubresources = []string{"attach", "exec", "proxy", "log", "portforward"}
)

// LongRunning reports whether a request streams (watch, exec, attach,
// port-forward, logs, proxy), as kube-apiserver's long-running check.
func LongRunning(a authz.Attributes) bool {
	if !a.ResourceRequest {
		return false
	}
	return slices.Contains(longRunningVerbs, a.Verb) || slices.Contains(longRunningSubresources, a.Subresource)
}

// Entry is the audit of one request. Its methods are safe for concurrent
// use and do nothing on a nil Entry or one the policy does not log.
type Entry struct {
	l           *Logger
	id          types.UID
	cfg         RequestConfig
	longRunning bool

	mu sync.Mutex // guards everything below
	ev auditv1.Event
	// code is the response's status, 0 until the handler sends one.
	code int
	// captureResponse is decided with the status: the response body is
	// kept only when the level logs it or it may be a failure's Status.
	captureResponse bool
	contentType     string
	respHeader      http.Header
	reqBody         *capture
	respBody        *capture
	// respObject is the response's object as JSON when its body is not
	// (protobuf): LogResponseObject.
	respObject []byte
	// bodiesDone: the request and response objects are in ev.
	bodiesDone bool
	finished   bool
}

// Begin starts the audit of r, whose attributes (user included) are a:
// it evaluates the policy and, unless the level is None, logs
// RequestReceived and, when the level needs the request body, makes
// r.Body keep a copy of what the handler reads. Call it after
// authentication and before authorization, then Wrap the
// ResponseWriter and Finish when the handler returns.
func (l *Logger) Begin(r *http.Request, a authz.Attributes) *Entry {
	e := l.newEntry(r, a)
	if !e.active() {
		return e
	}
	if captureRequest(e.cfg.Level, a.Verb) && r.Body != nil && r.Body != http.NoBody {
		e.reqBody = newCapture(l.maxBody)
		e.contentType = r.Header.Get("Content-Type")
		r.Body = &teeBody{ReadCloser: r.Body, e: e}
	}
	e.mu.Lock()
	e.emitLocked(auditv1.StageRequestReceived)
	e.mu.Unlock()
	return e
}

// newEntry evaluates the policy for r and fills the event's metadata.
func (l *Logger) newEntry(r *http.Request, a authz.Attributes) *Entry {
	e := &Entry{l: l, id: auditID(r)}
	if l == nil {
		return e
	}
	e.cfg = l.policy.Evaluate(a)
	if e.cfg.Level == auditv1.LevelNone {
		return e
	}
	e.longRunning = LongRunning(a)
	e.ev = auditv1.Event{
		TypeMeta:                 metav1.TypeMeta{Kind: "Event", APIVersion: auditv1.SchemeGroupVersion.String()},
		Level:                    e.cfg.Level,
		AuditID:                  e.id,
		RequestURI:               r.URL.RequestURI(),
		Verb:                     a.Verb,
		UserAgent:                userAgent(r),
		RequestReceivedTimestamp: metav1.NewMicroTime(time.Now()),
	}
	for _, ip := range utilnet.SourceIPs(r) {
		e.ev.SourceIPs = append(e.ev.SourceIPs, ip.String())
	}
	if a.User != nil {
		e.ev.User = userInfo(a.User)
	}
	if a.ResourceRequest {
		e.ev.ObjectRef = &auditv1.ObjectReference{
			Resource: a.Resource, Subresource: a.Subresource, Namespace: a.Namespace, Name: a.Name,
			APIGroup: a.APIGroup, APIVersion: a.APIVersion,
		}
	}
	return e
}

// FailedAuthentication logs a request whose credentials were refused, as
// upstream: one ResponseStarted event with code 401 and the methods the
// client tried. a has no user. It sets the Audit-ID header on w; the
// caller then writes the 401.
func (l *Logger) FailedAuthentication(w http.ResponseWriter, r *http.Request, a authz.Attributes) {
	e := l.newEntry(r, a)
	setAuditID(w.Header(), e.id)
	if !e.active() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.code = http.StatusUnauthorized
	e.finished = true
	e.ev.ResponseStatus = &metav1.Status{Code: http.StatusUnauthorized, Message: authMethods(r)}
	e.emitLocked(auditv1.StageResponseStarted)
}

// ID is the request's audit ID: the client's Audit-ID header, or a new
// UUID.
func (e *Entry) ID() string {
	if e == nil {
		return ""
	}
	return string(e.id)
}

// Level is the level the policy chose; None for a nil Entry.
func (e *Entry) Level() auditv1.Level {
	if !e.active() {
		return auditv1.LevelNone
	}
	return e.cfg.Level
}

func (e *Entry) active() bool {
	return e != nil && e.l != nil && e.cfg.Level != "" && e.cfg.Level != auditv1.LevelNone
}

// AddAnnotation records key=value in the event; a key keeps its first
// value, as upstream.
func (e *Entry) AddAnnotation(key, value string) {
	if !e.active() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.addAnnotationLocked(key, value)
}

func (e *Entry) addAnnotationLocked(key, value string) {
	if e.ev.Annotations == nil {
		e.ev.Annotations = map[string]string{}
	}
	if _, ok := e.ev.Annotations[key]; ok {
		return
	}
	e.ev.Annotations[key] = value
}

// Authorized records the authorizer's answer as upstream's annotations:
// decision allow or forbid with the reason, or only the reason "internal
// error" when the authorizer failed without allowing.
func (e *Entry) Authorized(d authz.Decision, reason string, err error) {
	if !e.active() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case d == authz.DecisionAllow:
		e.addAnnotationLocked(DecisionAnnotation, DecisionAllow)
		e.addAnnotationLocked(ReasonAnnotation, reason)
	case err != nil:
		e.addAnnotationLocked(ReasonAnnotation, "internal error")
	default:
		e.addAnnotationLocked(DecisionAnnotation, DecisionForbid)
		e.addAnnotationLocked(ReasonAnnotation, reason)
	}
}

// SetImpersonatedUser records the user the request acts as.
func (e *Entry) SetImpersonatedUser(u *authn.User) {
	if !e.active() || u == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	info := userInfo(u)
	e.ev.ImpersonatedUser = &info
}

// Finish logs ResponseComplete. A handler that sent nothing is logged
// as upstream does: 200, "Connection closed early" (for a long-running
// request after a ResponseStarted). Calls after the first, or after
// Panic, do nothing.
func (e *Entry) Finish() {
	if !e.active() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.finished {
		return
	}
	e.finished = true
	if e.code == 0 {
		e.code = http.StatusOK
		e.ev.ResponseStatus = &metav1.Status{Code: http.StatusOK, Status: metav1.StatusSuccess, Message: "Connection closed early"}
		if e.longRunning {
			e.emitLocked(auditv1.StageResponseStarted)
		}
	}
	e.fillBodiesLocked()
	e.emitLocked(auditv1.StageResponseComplete)
}

// Panic logs the Panic stage for a handler that panicked with v, with a
// 500 status, in place of ResponseComplete.
func (e *Entry) Panic(v any) {
	if !e.active() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.finished {
		return
	}
	e.finished = true
	e.ev.ResponseStatus = &metav1.Status{
		Code: http.StatusInternalServerError, Status: metav1.StatusFailure, Reason: metav1.StatusReasonInternalError,
		Message: fmt.Sprintf("APIServer panic'd: %v", v),
	}
	e.emitLocked(auditv1.StagePanic)
}

// observe records the status the handler sends, once: it decides whether
// the response body is kept, and logs ResponseStarted for a long-running
// request.
func (e *Entry) observe(code int, h http.Header) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.code != 0 || e.finished {
		return
	}
	e.code = code
	e.ev.ResponseStatus = &metav1.Status{Code: int32(code)}
	// A failure's body is its Status, whose reason and message the event
	// carries at every level; a long-running response is a stream, never
	// logged.
	// The content type is read when the body is logged: gin sets it after
	// the status.
	if code >= http.StatusBadRequest || (!e.longRunning && levelAtLeast(e.cfg.Level, auditv1.LevelRequestResponse)) {
		e.captureResponse = true
		e.respBody = newCapture(e.l.maxBody)
		e.respHeader = h
	}
	if e.longRunning {
		e.fillBodiesLocked()
		e.emitLocked(auditv1.StageResponseStarted)
	}
}

// wrote keeps a copy of response bytes when the body is captured.
func (e *Entry) wrote(p []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.captureResponse && e.respBody != nil && !e.finished {
		e.respBody.add(p)
	}
}

// read keeps a copy of request bytes the handler read; eof says the body
// ended.
func (e *Entry) read(p []byte, eof bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reqBody.add(p)
	if eof {
		e.reqBody.complete = true
	}
}

// emitLocked writes the event at stage, unless the policy omits it.
func (e *Entry) emitLocked(stage auditv1.Stage) {
	if e.cfg.omits(stage) {
		return
	}
	ev := e.ev
	ev.Stage = stage
	if stage == auditv1.StageRequestReceived {
		ev.StageTimestamp = ev.RequestReceivedTimestamp
	} else {
		ev.StageTimestamp = metav1.NewMicroTime(time.Now())
	}
	ev.Annotations = maps.Clone(e.ev.Annotations)
	if e.ev.ObjectRef != nil {
		ref := *e.ev.ObjectRef
		ev.ObjectRef = &ref
	}
	e.l.write(&ev)
}

// fillBodiesLocked puts the captured request and response in the event
// as the level allows: the object reference's name, uid and
// resourceVersion from a created or updated object at Metadata and up,
// the request object at Request and up, the response object at
// RequestResponse, a failure's Status fields at every level.
func (e *Entry) fillBodiesLocked() {
	if e.reqBody != nil && !e.bodiesDone {
		e.bodiesDone = true
		e.fillRequestLocked()
	}
	if e.respBody != nil && e.code != 0 && (e.finished || !e.longRunning) {
		e.fillResponseLocked()
	}
}

func (e *Entry) fillRequestLocked() {
	c := e.reqBody
	if c.truncated {
		if levelAtLeast(e.cfg.Level, auditv1.LevelRequest) {
			e.addAnnotationLocked(TruncatedAnnotation, "true")
		}
		return
	}
	if !c.complete {
		// The handler did not read the whole body: it was not decoded,
		// and upstream logs no object either.
		return
	}
	data, ok := toJSON(c.buf, e.contentType)
	if !ok {
		return
	}
	e.setRequestObjectLocked(data)
}

func (e *Entry) fillResponseLocked() {
	c := e.respBody
	e.respBody = nil
	if c.truncated {
		if levelAtLeast(e.cfg.Level, auditv1.LevelRequestResponse) {
			e.addAnnotationLocked(TruncatedAnnotation, "true")
		}
		return
	}
	if e.respHeader.Get("Content-Encoding") != "" {
		return
	}
	data, ok := toJSON(c.buf, e.respHeader.Get("Content-Type"))
	if !ok && e.respObject != nil {
		data, ok = e.respObject, true
	}
	if !ok {
		return
	}
	if st, ok := asStatus(data); ok {
		e.ev.ResponseStatus = &metav1.Status{
			Status: st.Status, Message: st.Message, Reason: st.Reason, Details: st.Details, Code: int32(e.code),
		}
	}
	if !levelAtLeast(e.cfg.Level, auditv1.LevelRequestResponse) {
		return
	}
	if e.cfg.OmitManagedFields {
		data = withoutManagedFields(data)
	}
	e.ev.ResponseObject = &runtime.Unknown{Raw: data, ContentType: runtime.ContentTypeJSON}
}

// captureRequest reports whether a request's body is needed: its object
// at Request and up, or the name of a created or updated object at
// Metadata.
func captureRequest(level auditv1.Level, verb string) bool {
	if levelAtLeast(level, auditv1.LevelRequest) {
		return true
	}
	return level == auditv1.LevelMetadata && (verb == "create" || verb == "update")
}

var levelOrder = map[auditv1.Level]int{
	auditv1.LevelNone: 0, auditv1.LevelMetadata: 1, auditv1.LevelRequest: 2, auditv1.LevelRequestResponse: 3,
}

func levelAtLeast(l, min auditv1.Level) bool { return levelOrder[l] >= levelOrder[min] }

func auditID(r *http.Request) types.UID {
	if id := r.Header.Get(auditv1.HeaderAuditID); id != "" {
		return types.UID(id)
	}
	return types.UID(uuid.New().String())
}

// setAuditID echoes the audit ID to the client, unless a handler in front
// already did.
func setAuditID(h http.Header, id types.UID) {
	if h.Get(auditv1.HeaderAuditID) == "" {
		h.Set(auditv1.HeaderAuditID, string(id))
	}
}

func userInfo(u *authn.User) authnv1.UserInfo {
	info := authnv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
	if len(u.Extra) > 0 {
		info.Extra = map[string]authnv1.ExtraValue{}
		for k, v := range u.Extra {
			info.Extra[k] = authnv1.ExtraValue(v)
		}
	}
	return info
}

func userAgent(r *http.Request) string {
	ua := r.UserAgent()
	if len(ua) > maxUserAgentLength {
		ua = ua[:maxUserAgentLength] + userAgentTruncateSuffix
	}
	return ua
}

// authMethods says which credentials a refused request carried, in
// upstream's words.
func authMethods(r *http.Request) string {
	var methods []string
	if _, _, ok := r.BasicAuth(); ok {
		methods = append(methods, "basic")
	}
	parts := strings.Split(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if len(parts) > 1 && strings.ToLower(parts[0]) == "bearer" {
		methods = append(methods, "bearer")
	}
	if strings.TrimSpace(r.URL.Query().Get("access_token")) != "" {
		methods = append(methods, "access_token")
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		methods = append(methods, "x509")
	}
	if len(methods) > 0 {
		return "Authentication failed, attempted: " + strings.Join(methods, ", ")
	}
	return "Authentication failed, no credentials provided"
}

// teeBody hands the handler the request body and keeps a copy for the
// audit.
type teeBody struct {
	io.ReadCloser
	e *Entry
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	t.e.read(p[:n], err == io.EOF)
	return n, err
}

type entryKey struct{}

// WithEntry returns ctx carrying e, for what runs inside the audited
// handler (authorization, impersonation) to annotate it.
func WithEntry(ctx context.Context, e *Entry) context.Context {
	return context.WithValue(ctx, entryKey{}, e)
}

// EntryFrom returns the Entry in ctx, or nil, whose methods do nothing.
func EntryFrom(ctx context.Context) *Entry {
	e, _ := ctx.Value(entryKey{}).(*Entry)
	return e
}

// LogRequestObject records the object a handler decoded from the request,
// as upstream's handlers call audit.LogRequestObject: at every level it
// names the object in the reference (a create's name is only in the
// body), and at Request and up it is the event's request object, whatever
// the wire format was (protobuf bodies are not captured as bytes).
func (e *Entry) LogRequestObject(obj runtime.Object) {
	if !e.active() || obj == nil {
		return
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.finished {
		return
	}
	// The decoded object supersedes the raw bytes.
	e.bodiesDone = true
	e.setRequestObjectLocked(data)
}

// LogResponseObject records the object a response carries in an encoding
// the log cannot read from the body (protobuf), as upstream's
// audit.LogResponseObject logs the object whatever the response's
// encoding: the response object at RequestResponse, a failure's Status
// fields at every level.
func (e *Entry) LogResponseObject(obj runtime.Object) {
	if !e.active() || obj == nil {
		return
	}
	if _, isStatus := obj.(*metav1.Status); !isStatus && !levelAtLeast(e.cfg.Level, auditv1.LevelRequestResponse) {
		return
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.finished {
		e.respObject = data
	}
}

// setRequestObjectLocked records the request's object (JSON): its name
// in the reference of a create or update at every level, the object
// itself at Request and up.
func (e *Entry) setRequestObjectLocked(data []byte) {
	if e.ev.ObjectRef != nil && (e.ev.Verb == "create" || e.ev.Verb == "update") {
		fillObjectRef(e.ev.ObjectRef, data)
	}
	if !levelAtLeast(e.cfg.Level, auditv1.LevelRequest) {
		return
	}
	if e.cfg.OmitManagedFields {
		data = withoutManagedFields(data)
	}
	e.ev.RequestObject = &runtime.Unknown{Raw: data, ContentType: runtime.ContentTypeJSON}
}
