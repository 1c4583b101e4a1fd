package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"coracle.dev/shared/testbin"
	"coracle.dev/shared/testproc"
	"coracle.dev/shared/testserver"
)

// commandTimeout bounds one ctl or kubectl command.
const commandTimeout = 60 * time.Second

// kubectlBinary is the real kubectl (v1.32) the parity tests compare with;
// they fail, never skip, without it.
func kubectlBinary(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/usr/bin/kubectl"); err == nil && !fi.IsDir() {
		return "/usr/bin/kubectl"
	}
	p, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl not found in /usr/bin or $PATH: the parity tests run the real kubectl (v1.32); install it (deploy/install-deps.sh)")
	}
	return p
}

// cluster is one apiserver with the clients tests use to arrange and
// check the store.
type cluster struct {
	ts      *testserver.TestServer
	client  kubernetes.Interface
	dynamic dynamic.Interface

	mu         sync.Mutex // guards namespaces
	namespaces int        // made so far, to name the next one uniquely
}

func startCluster(t *testing.T, opts ...testserver.Option) *cluster {
	t.Helper()
	ts := testserver.Start(t, opts...)
	return &cluster{ts: ts, client: kubernetes.NewForConfigOrDie(ts.Config), dynamic: dynamic.NewForConfigOrDie(ts.Config)}
}

// cli runs one program (ctl or kubectl) against the cluster with a fresh
// HOME and KUBECONFIG pointing at the admin kubeconfig.
type cli struct {
	name string
	path string
	env  []string
}

func newCLI(t *testing.T, c *cluster, path string, extraEnv ...string) *cli {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "EDITOR=") || strings.HasPrefix(kv, "KUBE_EDITOR=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "KUBECONFIG="+c.ts.Kubeconfig, "HOME="+t.TempDir())
	env = append(env, extraEnv...)
	return &cli{name: filepath.Base(path), path: path, env: env}
}

func ctl(t *testing.T, c *cluster, extraEnv ...string) *cli {
	return newCLI(t, c, testbin.Path(t, "ctl"), extraEnv...)
}

func kubectl(t *testing.T, c *cluster) *cli {
	return newCLI(t, c, kubectlBinary(t))
}

// result is what one command printed and its exit status.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

// runIn runs the program with stdin and returns what it printed.
func (c *cli) runIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.path, args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s: no answer within %s\n%s", c.name, strings.Join(args, " "), commandTimeout, r)
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("%s %s: %v", c.name, strings.Join(args, " "), err)
	}
	return r
}

func (c *cli) run(t *testing.T, args ...string) result {
	t.Helper()
	return c.runIn(t, "", args...)
}

// ok requires success and returns stdout.
func (c *cli) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := c.run(t, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: %s", c.name, strings.Join(args, " "), r)
	}
	return r.stdout
}

// says requires success and exactly want on stdout (trimmed).
func (c *cli) says(t *testing.T, want string, args ...string) {
	t.Helper()
	if got := strings.TrimSpace(c.ok(t, args...)); got != strings.TrimSpace(want) {
		t.Fatalf("%s %s printed:\n%s\nwant:\n%s", c.name, strings.Join(args, " "), got, want)
	}
}

// fails requires exit code 1 and stderr equal to want (trimmed).
func (c *cli) fails(t *testing.T, want string, args ...string) result {
	t.Helper()
	r := c.run(t, args...)
	if r.code != 1 || strings.TrimSpace(r.stderr) != strings.TrimSpace(want) {
		t.Fatalf("%s %s: want exit 1 and stderr %q; got %s", c.name, strings.Join(args, " "), want, r)
	}
	return r
}

// bg is a command running in the background.
type bg struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait returned
}

// background runs a long command (a watch) until it ends or the test
// does.
func (c *cli) background(t *testing.T, args ...string) (*testproc.Buffer, *bg) {
	t.Helper()
	out := &testproc.Buffer{}
	var stderr testproc.Buffer
	cmd := exec.Command(c.path, args...)
	cmd.Env = c.env
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s %s: %v", c.name, strings.Join(args, " "), err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s %s\nstdout:\n%s\nstderr:\n%s", c.name, strings.Join(args, " "), out, &stderr)
		}
	})
	return out, &bg{cmd: cmd, done: done}
}

// eventually polls cond every 100ms for up to 20s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// writeFile writes content into the test's temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// table is a parsed table of ctl or kubectl output.
type table struct {
	header []string
	rows   []map[string]string
}

// parseTable splits aligned columns by the header's column starts.
func parseTable(out string) table {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		return table{}
	}
	head := lines[0]
	var starts []int
	var names []string
	for i := 0; i < len(head); {
		for i < len(head) && head[i] == ' ' {
			i++
		}
		if i >= len(head) {
			break
		}
		j := strings.Index(head[i:], "  ")
		end := len(head)
		if j >= 0 {
			end = i + j
		}
		starts = append(starts, i)
		names = append(names, strings.TrimSpace(head[i:end]))
		i = end
	}
	tb := table{header: names}
	for _, l := range lines[1:] {
		row := map[string]string{}
		for k, s := range starts {
			e := len(l)
			if k+1 < len(starts) && starts[k+1] < len(l) {
				e = starts[k+1]
			}
			if s < len(l) {
				row[names[k]] = strings.TrimSpace(l[s:min(e, len(l))])
			}
		}
		tb.rows = append(tb.rows, row)
	}
	return tb
}

func (tb table) column(name string) []string {
	var out []string
	for _, r := range tb.rows {
		out = append(out, r[name])
	}
	return out
}

func (tb table) row(col, value string) map[string]string {
	for _, r := range tb.rows {
		if r[col] == value {
			return r
		}
	}
	return nil
}
