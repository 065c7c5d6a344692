package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/mscloudsim"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
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

// waitForFile waits for path to exist.
func waitForFile(t *testing.T, path string, alive func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) || !alive() {
			t.Fatalf("%s was not written", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readEnv reads the export lines of an env file.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, "export ")
		if !ok {
			continue
		}
		name, quoted, _ := strings.Cut(rest, "=")
		if len(quoted) < 2 || quoted[0] != '\'' || quoted[len(quoted)-1] != '\'' {
			t.Fatalf("line %q is not export NAME='value'", line)
		}
		env[name] = strings.ReplaceAll(quoted[1:len(quoted)-1], `'\''`, "'")
	}
	return env
}

func TestBinaryServesAndStopsOnSIGTERM(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mscloudsim")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	envPath := filepath.Join(dir, "sim.env")
	cmd := exec.Command(bin, "-ports", "0", "-env", envPath, "-tenants", "7", "-seed", "3")
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed when the process has exited; waitErr is then its
	// exit error.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	waitForFile(t, envPath, func() bool {
		select {
		case <-exited:
			return false
		default:
			return true
		}
	})

	env := readEnv(t, envPath)
	for _, name := range []string{"SEATSYNC_LOGIN_URL", "SEATSYNC_GRAPH_URL", "SEATSYNC_PARTNER_CENTER_URL", "SEATSYNC_SKU_CATALOG_URL",
		"SEATSYNC_CLIENT_ID", "SEATSYNC_CLIENT_SECRET"} {
		if env[name] == "" {
			t.Errorf("%s missing from the env file: %v", name, env)
		}
	}
	if env["SEATSYNC_CLIENT_ID"] != mscloudsim.DefaultClientID || env["SEATSYNC_CLIENT_SECRET"] != mscloudsim.DefaultClientSecret {
		t.Errorf("app registration %q %q", env["SEATSYNC_CLIENT_ID"], env["SEATSYNC_CLIENT_SECRET"])
	}
	if fi, err := os.Stat(envPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("env file mode %v, want 0600 (it holds the client secret)", fi.Mode().Perm())
	}
	if sh, err := exec.LookPath("sh"); err == nil {
		out, err := exec.Command(sh, "-c", `. "$1" && printf %s "$SEATSYNC_GRAPH_URL"`, "sh", envPath).Output()
		if err != nil || string(out) != env["SEATSYNC_GRAPH_URL"] {
			t.Errorf("sourcing the env file: %q, %v", out, err)
		}
	}

	resp, err := http.Get(env["SEATSYNC_LOGIN_URL"] + "/sim/estate")
	if err != nil {
		t.Fatal(err)
	}
	var estate mscloudsim.Estate
	err = json.NewDecoder(resp.Body).Decode(&estate)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(estate.Tenants) != 7 {
		t.Fatalf("/sim/estate: %d, %d tenants, %v", resp.StatusCode, len(estate.Tenants), err)
	}
	if want := mscloudsim.New(mscloudsim.Options{Seed: 3, Tenants: 7}).Estate(); estate.Tenants[0].TenantID != want.Tenants[0].TenantID {
		t.Errorf("the binary's estate is not seed 3's")
	}
	resp, err = http.Get(env["SEATSYNC_SKU_CATALOG_URL"])
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("catalog: %v %v", resp, err)
	}
	resp.Body.Close()
	if out := stdout.String(); !strings.Contains(out, env["SEATSYNC_GRAPH_URL"]) || !strings.Contains(out, "7 customer tenants") {
		t.Errorf("stdout does not show the URLs and the estate:\n%s", out)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", waitErr, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGTERM")
	}
	if !strings.Contains(stdout.String(), "stopping") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	if _, err := http.Get(env["SEATSYNC_LOGIN_URL"] + "/sim/calls"); err == nil {
		t.Error("the login listener still answers after the exit")
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-tenants", "0"}, {"-ports", "70000"}, {"-latency", "-1s"}, {"extra"}, {"-nosuchflag"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 || errb.Len() == 0 {
			t.Errorf("run %q: exit %d, stderr %q", args, code, errb.String())
		}
	}
}

func TestRunWritesEnvAndStops(t *testing.T) {
	dir := t.TempDir()
	envPath := filepath.Join(dir, "it's.env")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out syncBuffer
	go func() { done <- run(ctx, []string{"-env", envPath, "-tenants", "3"}, &out, &out) }()
	waitForFile(t, envPath, func() bool { return len(done) == 0 })
	env := readEnv(t, envPath)
	resp, err := http.Get(env["SEATSYNC_LOGIN_URL"] + "/sim/calls")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/sim/calls: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d:\n%s", code, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain":           "'plain'",
		"it's":            `'it'\''s'`,
		"$HOME `x` \"q\"": "'$HOME `x` \"q\"'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
