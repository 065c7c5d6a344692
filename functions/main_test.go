package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/tables/tablestest"
)

// TestBinary runs the real seatsync binary, built once, in each of its
// modes against the test Azurite.
func TestBinary(t *testing.T) {
	cs := tablestest.ConnectionString(t)
	bin := buildBinary(t)

	t.Run("version", func(t *testing.T) {
		p := startSeatsync(t, bin, nil, "version")
		if code := p.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
		}
		if got := p.stdout.String(); got != "seatsync dev\n" {
			t.Errorf("stdout = %q, want %q", got, "seatsync dev\n")
		}
	})

	t.Run("unknown command", func(t *testing.T) {
		p := startSeatsync(t, bin, nil, "frobnicate")
		if code := p.wait(t, 10*time.Second); code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		errText := p.stderr.String()
		for _, want := range []string{`unknown command "frobnicate"`, "Usage:", "seatsync serve", "seatsync handler"} {
			if !strings.Contains(errText, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errText)
			}
		}
		if p.stdout.Len() != 0 {
			t.Errorf("stdout not empty: %q", p.stdout)
		}
	})

	t.Run("serve refuses a bad setting", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		p := startSeatsync(t, bin, map[string]string{
			envTablesConnString: testConnString, // never contacted
			envDataDir:          dataDir,
			envListen:           "127.0.0.1:" + strconv.Itoa(freePort(t)),
			envGraphURL:         "http://example.com",
		}, "serve")
		if code := p.wait(t, 10*time.Second); code != 1 {
			t.Fatalf("exit %d, want 1; stderr:\n%s", code, p.stderr)
		}
		if !strings.Contains(p.stderr.String(), envGraphURL) {
			t.Errorf("stderr does not name %s:\n%s", envGraphURL, p.stderr)
		}
		if out := p.stdout.String() + p.stderr.String(); strings.Contains(out, secretAccountKey) {
			t.Errorf("the account key reached the output:\n%s", out)
		}
		// Settings are checked before anything is created.
		if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("data directory created despite the bad setting (stat: %v)", err)
		}
	})

	t.Run("serve", func(t *testing.T) { testServe(t, bin, cs) })
	t.Run("handler", func(t *testing.T) { testHandler(t, bin, cs) })
	t.Run("serve fires the timer from function.json", func(t *testing.T) { testServeTimer(t, bin, cs) })
}

// testServeTimer runs serve with a schedule of every second (through the
// %SEATSYNC_SYNC_SCHEDULE% of nightlysync/function.json) and checks that the
// timer invocation reaches the nightlysync handler through the protocol.
func testServeTimer(t *testing.T, bin, cs string) {
	port := freePort(t)
	p := startSeatsync(t, bin, map[string]string{
		envTablesConnString: cs,
		envDataDir:          t.TempDir(),
		envListen:           fmt.Sprintf("127.0.0.1:%d", port),
		envTablePrefix:      tablestest.Name("tm"),
		envSyncSchedule:     "*/1 * * * * *",
	}, "serve")
	p.waitListening(t, port)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stdout.String(), "timer invocation failed") {
		if time.Now().After(deadline) {
			t.Fatalf("the timer did not fire within 10 s; stdout:\n%s", p.stdout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	recs := logRecords(t, p.stdout.String())
	fired := func(r map[string]any) bool {
		return r["msg"] == "invocation failed" && r["function"] == "nightlysync" && r["invocationId"] != nil
	}
	if !hasRecord(recs, fired) {
		t.Errorf("no \"invocation failed\" line from the nightlysync handler with function and invocationId:\n%s", p.stdout)
	}
	failed := func(r map[string]any) bool {
		return r["msg"] == "timer invocation failed" && r["status"] == float64(500) &&
			strings.Contains(fmt.Sprint(r["error"]), "The nightly sync is not configured")
	}
	if !hasRecord(recs, failed) {
		t.Errorf("no failed-invocation line carrying the handler's answer:\n%s", p.stdout)
	}
}

func testServe(t *testing.T, bin, cs string) {
	dataDir := t.TempDir()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	// Tables of its own: other packages' tests share this Azurite.
	queue, prefix := tablestest.Name("e2e"), tablestest.Name("e")
	p := startSeatsync(t, bin, map[string]string{
		envTablesConnString: cs,
		envDataDir:          dataDir,
		envListen:           fmt.Sprintf("127.0.0.1:%d", port),
		envQueue:            queue,
		envTablePrefix:      prefix,
	}, "serve")
	p.waitListening(t, port)

	keyPath := filepath.Join(dataDir, apiKeyFile)
	fi, err := os.Stat(keyPath)
	if err != nil {
		t.Fatalf("no API key file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("API key file mode = %v, want 0600", fi.Mode().Perm())
	}
	raw, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(raw))
	if len(key) < 32 {
		t.Fatalf("generated API key %q is too short", key)
	}
	withKey := http.Header{"X-Functions-Key": {key}}

	t.Run("tenants with the key in the header", func(t *testing.T) {
		r := httpDo(t, "GET", base+"/api/v1/tenants", withKey, nil)
		r.wantJSON(t, http.StatusOK)
		r.wantEmptyList(t)
	})
	t.Run("tenants with the key in ?code=", func(t *testing.T) {
		r := httpDo(t, "GET", base+"/api/v1/tenants?code="+key, nil, nil)
		r.wantJSON(t, http.StatusOK)
		r.wantEmptyList(t)
	})
	for name, h := range map[string]http.Header{"header": withKey, "code": nil} {
		t.Run("connection with the key in "+name, func(t *testing.T) {
			u := base + "/api/v1/connection"
			if h == nil {
				u += "?code=" + key
			}
			r := httpDo(t, "GET", u, h, nil)
			r.wantJSON(t, http.StatusOK)
			var c struct {
				Status *string `json:"status"`
			}
			if err := json.Unmarshal(r.body, &c); err != nil || c.Status == nil || *c.Status != "not_connected" {
				t.Errorf("body %s: want status not_connected", r.body)
			}
		})
	}
	t.Run("no key", func(t *testing.T) {
		httpDo(t, "GET", base+"/api/v1/tenants", nil, nil).wantError(t, http.StatusUnauthorized, "unauthorized")
		httpDo(t, "GET", base+"/api/v1/connection", nil, nil).wantError(t, http.StatusUnauthorized, "unauthorized")
	})
	t.Run("wrong key", func(t *testing.T) {
		httpDo(t, "GET", base+"/api/v1/tenants", http.Header{"X-Functions-Key": {key + "x"}}, nil).wantError(t, http.StatusUnauthorized, "unauthorized")
		httpDo(t, "GET", base+"/api/v1/tenants?code=wrong-key-0123456789", nil, nil).wantError(t, http.StatusUnauthorized, "unauthorized")
	})
	t.Run("DELETE is not allowed", func(t *testing.T) {
		r := httpDo(t, "DELETE", base+"/api/v1/tenants", withKey, nil)
		r.wantError(t, http.StatusMethodNotAllowed, "method_not_allowed")
		if got := r.header.Get("Allow"); got != "GET" {
			t.Errorf("Allow = %q, want GET", got)
		}
	})
	t.Run("unknown API route", func(t *testing.T) {
		httpDo(t, "GET", base+"/api/v1/nope", withKey, nil).wantError(t, http.StatusNotFound, "not_found")
	})
	t.Run("outside the API", func(t *testing.T) {
		httpDo(t, "GET", base+"/elsewhere", nil, nil).wantError(t, http.StatusNotFound, "not_found")
	})
	t.Run("body over 1 MiB", func(t *testing.T) {
		body := bytes.Repeat([]byte("a"), 1<<20+1)
		r := httpDo(t, "POST", base+"/api/v1/tenants", http.Header{"X-Functions-Key": {key}, "Content-Type": {"application/json"}}, body)
		if r.status != http.StatusMethodNotAllowed && r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 405 or 413; body %s", r.status, r.body)
		}
		r.wantError(t, r.status, "")
	})

	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0; stderr:\n%s", code, p.stderr)
	}
	if n := strings.Count(p.stderr.String(), key); n != 1 {
		t.Errorf("the generated key appears %d times on stderr, want once:\n%s", n, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), keyPath) {
		t.Errorf("stderr does not say where the key is kept (%s):\n%s", keyPath, p.stderr)
	}
	recs := logRecords(t, p.stdout.String())
	if !hasRecord(recs, func(r map[string]any) bool { return r["msg"] == "stopped cleanly" }) {
		t.Errorf("no \"stopped cleanly\" log line:\n%s", p.stdout)
	}
	// Requests with ?code=<key> were logged, and the key is in none of it.
	if !hasRecord(recs, func(r map[string]any) bool {
		return r["msg"] == "request" && r["path"] == "/api/v1/tenants" && r["status"] == float64(200)
	}) {
		t.Errorf("no request log line for GET /api/v1/tenants:\n%s", p.stdout)
	}
	if strings.Contains(p.stdout.String(), key) {
		t.Errorf("the API key reached the log:\n%s", p.stdout)
	}

	t.Run("restart reuses the key", func(t *testing.T) {
		port := freePort(t)
		p := startSeatsync(t, bin, map[string]string{
			envTablesConnString: cs,
			envDataDir:          dataDir,
			envListen:           fmt.Sprintf("127.0.0.1:%d", port),
			envQueue:            queue,
			envTablePrefix:      prefix,
		}, "serve")
		p.waitListening(t, port)
		r := httpDo(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/api/v1/tenants", port), withKey, nil)
		r.wantJSON(t, http.StatusOK)
		if code := p.stop(t); code != 0 {
			t.Fatalf("exit %d after SIGTERM, want 0; stderr:\n%s", code, p.stderr)
		}
		if again, err := os.ReadFile(keyPath); err != nil || strings.TrimSpace(string(again)) != key {
			t.Errorf("key file changed on restart (%v)", err)
		}
		if strings.Contains(p.stderr.String(), key) {
			t.Errorf("the key was printed again:\n%s", p.stderr)
		}
		if !strings.Contains(p.stderr.String(), "serving on") {
			t.Errorf("stderr lacks the serving line:\n%s", p.stderr)
		}
	})
}

func testHandler(t *testing.T, bin, cs string) {
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	p := startSeatsync(t, bin, map[string]string{
		envTablesConnString:  cs,
		envKeyVaultURL:       "https://kv.example.net",
		envServiceBus:        "sb.example.net",
		envCustomHandlerPort: strconv.Itoa(port),
		envTablePrefix:       tablestest.Name("h"),
	}, "handler")
	p.waitListening(t, port)

	golden := mustRead(t, "../shared/funchost/testdata/servicebus-double-encoded.json")
	timer := mustRead(t, "../shared/funchost/testdata/timer.json")
	const (
		invocationID  = "6a1f0c2e-9b3d-4e5f-8a7b-1c2d3e4f5a6b"
		malformedID   = "0d9c8b7a-6f5e-4d3c-9b2a-1f0e9d8c7b6a"
		goldenRunID   = "0f8fad5b-d9cb-469f-a165-70867728950e"
		invocationHdr = "X-Azure-Functions-InvocationId"
	)

	t.Run("readiness", func(t *testing.T) {
		r := httpDo(t, "GET", base+"/", nil, nil)
		if r.status != http.StatusOK {
			t.Errorf("GET / = %d, want 200", r.status)
		}
	})
	t.Run("tenantsync", func(t *testing.T) {
		r := httpDo(t, "POST", base+"/tenantsync", http.Header{invocationHdr: {invocationID}, "Content-Type": {"application/json"}}, golden)
		if r.status < 300 {
			t.Errorf("status %d: the sync is not built, want a failure", r.status)
		}
		r.wantInvocationResponse(t)
	})
	t.Run("tenantsync with a malformed payload", func(t *testing.T) {
		r := httpDo(t, "POST", base+"/tenantsync", http.Header{invocationHdr: {malformedID}}, []byte(`{"Data":{}}`))
		if r.status != http.StatusBadRequest {
			t.Errorf("status %d, want 400; body %s", r.status, r.body)
		}
		r.wantInvocationResponse(t)
	})
	t.Run("unknown function", func(t *testing.T) {
		// The host must get the invocation format, not net/http's plain
		// text 404 (a.invoke needs a JSON fallback for unknown names).
		r := httpDo(t, "POST", base+"/nosuchfunction", http.Header{invocationHdr: {invocationID}}, timer)
		if r.status != http.StatusNotFound {
			t.Errorf("status %d, want 404; body %s", r.status, r.body)
		}
		r.wantInvocationResponse(t)
	})
	t.Run("nightlysync", func(t *testing.T) {
		r := httpDo(t, "POST", base+"/nightlysync", nil, timer)
		if r.status < 300 {
			t.Errorf("status %d: the nightly sync is not built, want a failure", r.status)
		}
		r.wantInvocationResponse(t)
	})
	t.Run("API without a key", func(t *testing.T) {
		// In Azure the host checks the key before proxying.
		r := httpDo(t, "GET", base+"/api/v1/tenants", nil, nil)
		r.wantJSON(t, http.StatusOK)
		r.wantEmptyList(t)
	})

	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0; stderr:\n%s", code, p.stderr)
	}
	recs := logRecords(t, p.stdout.String())
	// The lines logged for the golden message (it names the run) carry the
	// invocation id the host sent, and so does the failure.
	n := 0
	for _, r := range recs {
		if r["runId"] == goldenRunID || (r["function"] == "tenantsync" && r["msg"] == "invocation failed") {
			n++
			if r["invocationId"] != invocationID {
				t.Errorf("log line without the host's invocation id %s: %v", invocationID, r)
			}
		}
	}
	if n < 2 {
		t.Errorf("want the request and failure lines of the tenantsync invocation, found %d:\n%s", n, p.stdout)
	}
	if !hasRecord(recs, func(r map[string]any) bool {
		return r["msg"] == "invocation rejected" && r["invocationId"] == malformedID && r["function"] == "tenantsync"
	}) {
		t.Errorf("no \"invocation rejected\" line with invocation id %s:\n%s", malformedID, p.stdout)
	}
}

// buildBinary builds this command once into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "seatsync")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// syncBuffer is a bytes.Buffer safe to read while the child writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

type seatsyncProc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
}

// startSeatsync runs bin with exactly env (nothing from this process's environment).
// The child is killed at cleanup if it is still running.
func startSeatsync(t *testing.T, bin string, env map[string]string, args ...string) *seatsyncProc {
	t.Helper()
	p := &seatsyncProc{cmd: exec.Command(bin, args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = []string{}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Errorf("pid %d did not exit after SIGKILL", p.cmd.Process.Pid)
			}
		}
	})
	return p
}

// wait returns the exit code, failing the test if the process runs longer
// than timeout.
func (p *seatsyncProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("still running after %v; stdout:\n%s\nstderr:\n%s", timeout, p.stdout, p.stderr)
		return -1
	}
}

// stop sends SIGTERM and returns the exit code; the process has 10 s.
func (p *seatsyncProc) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	return p.wait(t, 10*time.Second)
}

// waitListening waits (at most 15 s) until port accepts connections.
func (p *seatsyncProc) waitListening(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			t.Fatalf("exited with %d before listening; stdout:\n%s\nstderr:\n%s", p.cmd.ProcessState.ExitCode(), p.stdout, p.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d not answering after 15 s; stdout:\n%s\nstderr:\n%s", port, p.stdout, p.stderr)
		}
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type httpResult struct {
	status int
	header http.Header
	body   []byte
}

var e2eClient = &http.Client{Timeout: 10 * time.Second}

func httpDo(t *testing.T, method, url string, header http.Header, body []byte) httpResult {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := e2eClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return httpResult{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantJSON checks the status and that the body is JSON, declared as such.
func (r httpResult) wantJSON(t *testing.T, status int) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json; body %q", ct, r.body)
	}
	if !json.Valid(r.body) {
		t.Errorf("body is not JSON: %q", r.body)
	}
}

// wantEmptyList checks the body is {"value":[]} (an array, not null).
func (r httpResult) wantEmptyList(t *testing.T) {
	t.Helper()
	var l map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &l); err != nil || string(l["value"]) != "[]" {
		t.Errorf("body %s, want {\"value\":[]}", r.body)
	}
}

// wantError checks the API's error format: {"error":{"code":…,"message":…}}
// with status and, if code is not empty, that code.
func (r httpResult) wantError(t *testing.T, status int, code string) {
	t.Helper()
	r.wantJSON(t, status)
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("body %s is not the API error format", r.body)
		return
	}
	if code != "" && e.Error.Code != code {
		t.Errorf("error code %q, want %q", e.Error.Code, code)
	}
}

// wantInvocationResponse checks the custom-handler answer the host reads:
// JSON with Outputs (an object), Logs (an array) and ReturnValue.
func (r httpResult) wantInvocationResponse(t *testing.T) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json; body %q", ct, r.body)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Errorf("body is not a JSON object: %q", r.body)
		return
	}
	for key, kind := range map[string]byte{"Outputs": '{', "Logs": '[', "ReturnValue": 0} {
		v, ok := m[key]
		if !ok {
			t.Errorf("body lacks %s: %s", key, r.body)
		} else if kind != 0 && (len(v) == 0 || v[0] != kind) {
			t.Errorf("%s = %s, want a JSON %c…", key, v, kind)
		}
	}
}

// logRecords parses stdout as JSON lines; every line must parse.
func logRecords(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		// A top-level key twice in one line (two layers adding the same
		// attribute) would be silently collapsed by Unmarshal.
		if k := repeatedTopLevelKey(sc.Bytes()); k != "" {
			t.Errorf("log line repeats %q: %s", k, sc.Text())
		}
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Errorf("log line is not JSON: %q", sc.Text())
			continue
		}
		recs = append(recs, r)
	}
	if len(recs) == 0 {
		t.Errorf("no log lines on stdout")
	}
	return recs
}

func hasRecord(recs []map[string]any, f func(map[string]any) bool) bool {
	for _, r := range recs {
		if f(r) {
			return true
		}
	}
	return false
}

// repeatedTopLevelKey returns a key that occurs twice at the top level of
// the JSON object line, or "".
func repeatedTopLevelKey(line []byte) string {
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ""
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		k, _ := tok.(string)
		if seen[k] {
			return k
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}
