package podworkers

import (
	"context"
	"errors"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestHookMessages(t *testing.T) {
	pod := testPod("p", 0)
	// Worded as CRI's ExecSync and upstream's handler runner word them.
	got := execHookMessage([]string{"sh", "-c", "exit 1"}, "c", pod, errors.New("command 'sh -c exit 1' exited with 1: "), []byte("oops\n"))
	want := `Exec lifecycle hook ([sh -c exit 1]) for Container "c" in Pod "p_ns(uid-p)" failed - error: command 'sh -c exit 1' exited with 1: , message: "oops\n"`
	if got != want {
		t.Errorf("exec message\n got %s\nwant %s", got, want)
	}

	m := &Manager{}
	c := &v1.Container{Name: "c"}
	// Nothing listens on port 1 of 127.0.0.1: the request fails.
	msg, err := m.runHook(context.Background(), hookTarget{pod: pod, spec: c, podIP: "127.0.0.1"},
		&v1.LifecycleHandler{HTTPGet: &v1.HTTPGetAction{Path: "/hook", Port: intstr.FromInt32(1)}})
	if err == nil {
		t.Fatal("HTTP hook to a closed port succeeded")
	}
	wantPrefix := `HTTP lifecycle hook (/hook) for Container "c" in Pod "p_ns(uid-p)" failed - error: Get "http://127.0.0.1:1/hook": `
	if len(msg) < len(wantPrefix) || msg[:len(wantPrefix)] != wantPrefix {
		t.Errorf("HTTP message %q, want prefix %q", msg, wantPrefix)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	msg, err = m.runHook(ctx, hookTarget{pod: pod, spec: c}, &v1.LifecycleHandler{Sleep: &v1.SleepAction{Seconds: 5}})
	if err == nil || msg != `Sleep lifecycle hook (5) for Container "c" in Pod "p_ns(uid-p)" failed - error: container terminated before sleep hook finished` {
		t.Errorf("sleep hook stopped early: %q, %v", msg, err)
	}
	if msg, err := m.runHook(context.Background(), hookTarget{pod: pod, spec: c}, &v1.LifecycleHandler{}); err == nil || msg[:len("Cannot run handler: invalid handler")] != "Cannot run handler: invalid handler" {
		t.Errorf("empty handler: %q, %v", msg, err)
	}
}

func TestHookRequest(t *testing.T) {
	pod := testPod("p", 0)
	c := &v1.Container{Name: "c", Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}}
	tests := []struct {
		name    string
		get     v1.HTTPGetAction
		podIP   string
		url     string
		host    string
		wantErr bool
	}{
		{name: "pod IP, numbered port", get: v1.HTTPGetAction{Path: "/a", Port: intstr.FromInt32(80)}, podIP: "10.0.0.5", url: "http://10.0.0.5:80/a"},
		{name: "named port", get: v1.HTTPGetAction{Path: "/b", Port: intstr.FromString("http")}, podIP: "10.0.0.5", url: "http://10.0.0.5:8080/b"},
		{name: "host given, https, path without slash", get: v1.HTTPGetAction{Host: "127.0.0.1", Path: "x?q=1", Port: intstr.FromInt32(443), Scheme: v1.URISchemeHTTPS}, url: "https://127.0.0.1:443/x?q=1"},
		{name: "no path", get: v1.HTTPGetAction{Port: intstr.FromInt32(80)}, podIP: "10.0.0.5", url: "http://10.0.0.5:80"},
		{name: "Host header", get: v1.HTTPGetAction{Port: intstr.FromInt32(80), HTTPHeaders: []v1.HTTPHeader{{Name: "Host", Value: "example.com"}}}, podIP: "10.0.0.5", url: "http://10.0.0.5:80", host: "example.com"},
		{name: "unknown port name", get: v1.HTTPGetAction{Port: intstr.FromString("nope")}, podIP: "10.0.0.5", wantErr: true},
		{name: "no pod IP", get: v1.HTTPGetAction{Port: intstr.FromInt32(80)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := hookRequest(context.Background(), hookTarget{pod: pod, spec: c, podIP: tt.podIP}, &tt.get)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error; request for %s", req.URL)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.URL.String() != tt.url {
				t.Errorf("URL %s, want %s", req.URL, tt.url)
			}
			if ua := req.Header.Get("User-Agent"); ua != "kube-lifecycle/1.37" {
				t.Errorf("User-Agent %q", ua)
			}
			if tt.host != "" && req.Host != tt.host {
				t.Errorf("Host %q, want %q", req.Host, tt.host)
			}
		})
	}
}

func TestStopGrace(t *testing.T) {
	tests := []struct {
		grace, took, want time.Duration
	}{
		{30 * time.Second, 5 * time.Second, 25 * time.Second},
		// The hook took (nearly) all of it: SIGTERM still gets 2s.
		{10 * time.Second, 9 * time.Second, 2 * time.Second},
		{10 * time.Second, 10 * time.Second, 2 * time.Second},
		{1 * time.Second, 100 * time.Millisecond, 2 * time.Second},
	}
	for _, tt := range tests {
		if got := stopGrace(tt.grace, tt.took); got != tt.want {
			t.Errorf("stopGrace(%s, %s) = %s, want %s", tt.grace, tt.took, got, tt.want)
		}
	}
}

func TestActiveDeadline(t *testing.T) {
	now := t0.Add(time.Hour)
	at := func(ago time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(-ago)); return &t }
	tests := []struct {
		name     string
		deadline *int64
		start    *metav1.Time
		left     time.Duration
		past     bool
	}{
		{name: "no deadline", start: at(time.Hour)},
		{name: "not started", deadline: ptr.To[int64](3)},
		{name: "time left", deadline: ptr.To[int64](30), start: at(10 * time.Second), left: 20 * time.Second},
		// As upstream: past at exactly the deadline.
		{name: "exactly at the deadline", deadline: ptr.To[int64](30), start: at(30 * time.Second), past: true},
		{name: "past", deadline: ptr.To[int64](3), start: at(time.Minute), left: -57 * time.Second, past: true},
	}
	for _, tt := range tests {
		pod := testPod("p", 0)
		pod.Spec.ActiveDeadlineSeconds = tt.deadline
		left, past := activeDeadline(pod, tt.start, now)
		if left != tt.left || past != tt.past {
			t.Errorf("%s: activeDeadline = %s, %v; want %s, %v", tt.name, left, past, tt.left, tt.past)
		}
	}
}
