package main

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	// testExec differs from the compiled binary's file name, so the tests
	// prove the entry name comes from host.json.
	testExec = "handler"

	testHost = `{
  "version": "2.0",
  "customHandler": {
    "description": {"defaultExecutablePath": "handler", "workingDirectory": "", "arguments": ["handler"]},
    "enableProxyingHttpRequest": true
  }
}
`
	httpFunction = `{
  "bindings": [
    {"type": "httpTrigger", "direction": "in", "name": "req", "methods": ["get"]},
    {"type": "http", "direction": "out", "name": "res"}
  ]
}
`
	timerFunction = `{"bindings": [{"type": "timerTrigger", "direction": "in", "name": "timer", "schedule": "0 0 2 * * *"}]}
`
	unixCreator = 3 // zip "version made by" high byte for Unix
)

// TestDistzip compiles each test binary once (the machine is small) and
// shares it with the subtests.
func TestDistzip(t *testing.T) {
	amd64 := compileHandler(t, "amd64")

	t.Run("LayoutModesAndContents", func(t *testing.T) { testLayout(t, amd64) })
	t.Run("Deterministic", func(t *testing.T) { testDeterministic(t, amd64) })
	t.Run("ValidationFailures", func(t *testing.T) { testValidation(t, amd64) })
	t.Run("OutputMustNotOverwriteInput", func(t *testing.T) { testOverwriteInput(t, amd64) })
	t.Run("CLI", func(t *testing.T) { testCLI(t, amd64) })
	t.Run("RealRepository", func(t *testing.T) { testRealRepository(t, amd64) })
}

func testLayout(t *testing.T, bin string) {
	root := validTree(t)
	out := filepath.Join(t.TempDir(), "dist", "app.zip") // folder created on demand
	res, err := build(options{Root: root, Binary: bin, Out: out})
	if err != nil {
		t.Fatalf("build: %v", err)
	}

	files := openZip(t, out)
	want := []string{"alpha/function.json", "beta/function.json", testExec, "host.json"} // sorted
	if got := names(files); !slices.Equal(got, want) {
		t.Fatalf("entries = %q, want %q", got, want)
	}
	if res.Entries != len(want) {
		t.Errorf("result entries = %d, want %d", res.Entries, len(want))
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() != res.Size {
		t.Errorf("result size = %d, file: %v %v", res.Size, fi, err)
	}

	wantData := map[string]string{
		"alpha/function.json": filepath.Join(root, "functions", "alpha", "function.json"),
		"beta/function.json":  filepath.Join(root, "functions", "beta", "function.json"),
		"host.json":           filepath.Join(root, "host.json"),
		testExec:              bin,
	}
	epoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range files {
		wantMode := os.FileMode(0o644)
		if f.Name == testExec {
			wantMode = 0o755
		}
		if f.Mode() != wantMode {
			t.Errorf("%s: mode %v, want %v", f.Name, f.Mode(), wantMode)
		}
		if f.CreatorVersion>>8 != unixCreator {
			t.Errorf("%s: creator %d, want Unix (%d) so the mode is honoured", f.Name, f.CreatorVersion>>8, unixCreator)
		}
		if f.Method != zip.Deflate {
			t.Errorf("%s: method %d, want deflate", f.Name, f.Method)
		}
		if !f.Modified.Equal(epoch) {
			t.Errorf("%s: modified %v, want %v", f.Name, f.Modified, epoch)
		}
		if got, want := readEntry(t, f), readFile(t, wantData[f.Name]); !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes differ from %s (%d bytes)", f.Name, len(got), wantData[f.Name], len(want))
		}
	}
	assertOnly(t, filepath.Dir(out), filepath.Base(out))
}

func testDeterministic(t *testing.T, bin string) {
	root := validTree(t)
	dir := t.TempDir()
	first := filepath.Join(dir, "first.zip")
	if _, err := build(options{Root: root, Binary: bin, Out: first}); err != nil {
		t.Fatalf("first build: %v", err)
	}

	// Input times and modes must not leak into the zip.
	later := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, p := range []string{bin, filepath.Join(root, "host.json"), filepath.Join(root, "functions", "beta", "function.json")} {
		if err := os.Chtimes(p, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "host.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	second := filepath.Join(dir, "second.zip")
	if _, err := build(options{Root: root, Binary: bin, Out: second}); err != nil {
		t.Fatalf("second build: %v", err)
	}
	if !bytes.Equal(readFile(t, first), readFile(t, second)) {
		t.Fatal("two builds of the same inputs differ")
	}

	// Rebuilding over an existing zip replaces it with the same bytes.
	if _, err := build(options{Root: root, Binary: bin, Out: first}); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if !bytes.Equal(readFile(t, first), readFile(t, second)) {
		t.Fatal("rebuild over an existing zip differs")
	}

	// The fixed time is what stamps the entries, so changing it changes the bytes.
	stamped := filepath.Join(dir, "stamped.zip")
	stamp := time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)
	if _, err := build(options{Root: root, Binary: bin, Out: stamped, ModTime: stamp}); err != nil {
		t.Fatalf("stamped build: %v", err)
	}
	if bytes.Equal(readFile(t, first), readFile(t, stamped)) {
		t.Fatal("a different ModTime gave identical bytes")
	}
	for _, f := range openZip(t, stamped) {
		if !f.Modified.Equal(stamp) {
			t.Errorf("%s: modified %v, want %v", f.Name, f.Modified, stamp)
		}
	}
	assertOnly(t, dir, "first.zip", "second.zip", "stamped.zip")
}

func testValidation(t *testing.T, amd64 string) {
	writeBinary := func(content []byte) func(t *testing.T, root string) string {
		return func(t *testing.T, root string) string {
			p := filepath.Join(t.TempDir(), "seatsync")
			if err := os.WriteFile(p, content, 0o755); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	cases := []struct {
		name   string
		mutate func(t *testing.T, root string)
		binary func(t *testing.T, root string) string // nil: the amd64 build
		want   []string
	}{
		{
			name:   "host.json is not JSON",
			mutate: writeFiles(map[string]string{"host.json": `{"version": "2.0",`}),
			want:   []string{"host.json", "invalid JSON"},
		},
		{
			name:   "host.json version is not 2.0",
			mutate: writeFiles(map[string]string{"host.json": strings.Replace(testHost, `"2.0"`, `"1.0"`, 1)}),
			want:   []string{"host.json", `version is "1.0"`},
		},
		{
			name:   "executable path has a slash",
			mutate: writeFiles(map[string]string{"host.json": strings.Replace(testHost, `"handler",`, `"bin/handler",`, 1)}),
			want:   []string{"host.json", "defaultExecutablePath", "bin/handler", "plain file name"},
		},
		{
			name:   "executable path is dot-dot",
			mutate: writeFiles(map[string]string{"host.json": strings.Replace(testHost, `"handler",`, `"..",`, 1)}),
			want:   []string{"host.json", "defaultExecutablePath", `".."`},
		},
		{
			name:   "executable path missing",
			mutate: writeFiles(map[string]string{"host.json": `{"version": "2.0"}`}),
			want:   []string{"host.json", "defaultExecutablePath", "missing"},
		},
		{
			name:   "function.json without bindings",
			mutate: writeFiles(map[string]string{"functions/beta/function.json": `{"disabled": false}`}),
			want:   []string{filepath.Join("functions", "beta", "function.json"), "bindings"},
		},
		{
			name:   "function.json bindings not an array",
			mutate: writeFiles(map[string]string{"functions/beta/function.json": `{"bindings": {"type": "http"}}`}),
			want:   []string{filepath.Join("functions", "beta", "function.json"), "field bindings", "JSON object"},
		},
		{
			name: "binding without direction",
			mutate: writeFiles(map[string]string{
				"functions/beta/function.json": `{"bindings": [{"type": "timerTrigger", "name": "timer"}]}`,
			}),
			want: []string{filepath.Join("functions", "beta", "function.json"), "bindings[0]", `"direction"`},
		},
		{
			name: "uppercase function folder",
			mutate: func(t *testing.T, root string) {
				fns := filepath.Join(root, "functions")
				if err := os.Rename(filepath.Join(fns, "alpha"), filepath.Join(fns, "Alpha")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{filepath.Join("functions", "Alpha"), "lowercase"},
		},
		{
			name: "no functions",
			mutate: func(t *testing.T, root string) {
				for _, fn := range []string{"alpha", "beta"} {
					if err := os.Remove(filepath.Join(root, "functions", fn, "function.json")); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: []string{"functions", "no function folders"},
		},
		{
			name:   "function folder named like the executable",
			mutate: writeFiles(map[string]string{"functions/handler/function.json": timerFunction}),
			want:   []string{"host.json", filepath.Join("functions", "handler"), "collides"},
		},
		{
			name:   "binary is a shell script",
			binary: writeBinary([]byte("#!/bin/sh\necho not a handler\n")),
			want:   []string{"seatsync", "unrecognised file format", "want a Linux ELF", "GOOS=linux GOARCH=amd64"},
		},
		{
			name:   "binary is Mach-O",
			binary: writeBinary(append([]byte{0xcf, 0xfa, 0xed, 0xfe}, make([]byte, 64)...)),
			want:   []string{"seatsync", "macOS", "GOOS=linux GOARCH=amd64"},
		},
		{
			name:   "binary is an arm64 ELF",
			binary: func(t *testing.T, _ string) string { return compileHandler(t, "arm64") },
			want:   []string{"handler-linux-arm64", "EM_AARCH64", "GOOS=linux GOARCH=amd64"},
		},
		{
			name:   "binary missing",
			binary: func(t *testing.T, root string) string { return filepath.Join(root, "nope") },
			want:   []string{"nope", "no such file"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := validTree(t)
			if tc.mutate != nil {
				tc.mutate(t, root)
			}
			bin := amd64
			if tc.binary != nil {
				bin = tc.binary(t, root)
			}
			outDir := t.TempDir()
			out := filepath.Join(outDir, "seatsync.zip")
			_, err := build(options{Root: root, Binary: bin, Out: out})
			if err == nil {
				t.Fatal("build succeeded, want an error")
			}
			t.Logf("error: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			assertOnly(t, outDir) // neither the zip nor a temp file
		})
	}
}

func testOverwriteInput(t *testing.T, amd64 string) {
	root := validTree(t)
	bin := filepath.Join(t.TempDir(), "seatsync")
	want := readFile(t, amd64)
	if err := os.WriteFile(bin, want, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := build(options{Root: root, Binary: bin, Out: bin})
	if err == nil || !strings.Contains(err.Error(), "overwrite") {
		t.Fatalf("build with -out = -binary: err = %v, want an overwrite error", err)
	}
	if !bytes.Equal(readFile(t, bin), want) {
		t.Fatal("binary was modified")
	}
	assertOnly(t, filepath.Dir(bin), "seatsync")
}

func testCLI(t *testing.T, bin string) {
	root := validTree(t)
	out := filepath.Join(t.TempDir(), "seatsync.zip")
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")

	var stdout, stderr bytes.Buffer
	if code := run([]string{"-root", root, "-binary", bin, "-out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, stderr.String())
	}
	line := regexp.MustCompile(`^` + regexp.QuoteMeta(out) + `: 4 entries, [1-9][0-9]* bytes\n$`)
	if !line.MatchString(stdout.String()) {
		t.Errorf("stdout = %q, want one line with path, entry count and size", stdout.String())
	}
	stamp := time.Unix(1700000000, 0)
	for _, f := range openZip(t, out) {
		if !f.Modified.Equal(stamp) {
			t.Errorf("%s: modified %v, want SOURCE_DATE_EPOCH %v", f.Name, f.Modified, stamp)
		}
	}

	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"-root", root, "-binary", bin}, &stdout, &stderr); code != 2 {
		t.Errorf("without -out: exit %d, want 2", code)
	}

	stderr.Reset()
	badOut := filepath.Join(t.TempDir(), "bad.zip")
	if code := run([]string{"-root", t.TempDir(), "-binary", bin, "-out", badOut}, &stdout, &stderr); code != 1 {
		t.Errorf("empty root: exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "host.json") {
		t.Errorf("empty root: stderr %q does not name host.json", stderr.String())
	}
	if _, err := os.Stat(badOut); err == nil {
		t.Error("failed run left a zip behind")
	}

	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	stderr.Reset()
	if code := run([]string{"-root", root, "-binary", bin, "-out", badOut}, &stdout, &stderr); code != 1 {
		t.Errorf("bad SOURCE_DATE_EPOCH: exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "SOURCE_DATE_EPOCH") {
		t.Errorf("bad SOURCE_DATE_EPOCH: stderr %q does not name it", stderr.String())
	}
}

func testRealRepository(t *testing.T, bin string) {
	root := filepath.Join("..", "..")
	out := filepath.Join(t.TempDir(), "seatsync.zip")
	if _, err := build(options{Root: root, Binary: bin, Out: out}); err != nil {
		t.Fatalf("build of the repository: %v", err)
	}
	files := openZip(t, out)
	entries := names(files)

	count := func(name string) int {
		n := 0
		for _, e := range entries {
			if e == name {
				n++
			}
		}
		return n
	}
	for _, name := range []string{"host.json", "seatsync"} {
		if c := count(name); c != 1 {
			t.Errorf("%s appears %d times in %q, want once", name, c, entries)
		}
	}
	for _, fn := range []string{"consent", "consentcallback", "nightlysync", "tenantsync", "psaapi"} {
		if c := count(fn + "/function.json"); c != 1 {
			t.Errorf("%s/function.json appears %d times in %q, want once", fn, c, entries)
		}
	}

	for _, f := range files {
		var src string
		switch {
		case f.Name == "host.json":
			src = filepath.Join(root, "host.json")
		case f.Name == "seatsync":
			src = bin
			if f.Mode() != 0o755 {
				t.Errorf("seatsync: mode %v, want 0755", f.Mode())
			}
		case strings.Count(f.Name, "/") == 1 && strings.HasSuffix(f.Name, "/function.json"):
			src = filepath.Join(root, "functions", filepath.FromSlash(f.Name))
		default:
			t.Errorf("unexpected entry %q: only host.json, the binary and function.json files ship", f.Name)
			continue
		}
		if !bytes.Equal(readEntry(t, f), readFile(t, src)) {
			t.Errorf("%s: bytes differ from %s", f.Name, src)
		}
	}
}

// A failure while writing (here: an input vanishing after validation) must
// remove the temp file and leave an existing zip untouched.
func TestWriteZipFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "seatsync.zip")
	old := []byte("previous zip")
	if err := os.WriteFile(out, old, 0o644); err != nil {
		t.Fatal(err)
	}
	entries := []entry{
		{name: "host.json", data: []byte(testHost), mode: dataMode},
		{name: testExec, src: filepath.Join(dir, "vanished"), mode: binaryMode},
	}
	_, err := writeZip(out, entries, time.Unix(defaultEpoch, 0))
	if err == nil || !strings.Contains(err.Error(), testExec) {
		t.Fatalf("err = %v, want an error naming the %s entry", err, testExec)
	}
	if !bytes.Equal(readFile(t, out), old) {
		t.Error("existing zip was modified")
	}
	assertOnly(t, dir, "seatsync.zip")
}

func TestModTime(t *testing.T) {
	cases := []struct {
		env     string
		want    time.Time
		wantErr bool
	}{
		{env: "", want: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{env: "1700000000", want: time.Unix(1700000000, 0)},
		{env: "0", want: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)}, // clamped to the zip minimum
		{env: "1.5", wantErr: true},
		{env: "-1", wantErr: true},
		{env: "99999999999", wantErr: true},
	}
	for _, tc := range cases {
		got, err := modTime(tc.env)
		if tc.wantErr {
			if err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
				t.Errorf("modTime(%q) = %v, %v; want an error", tc.env, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("modTime(%q) = %v, %v; want %v in UTC", tc.env, got, err, tc.want)
		}
	}
}

// compileHandler builds a tiny linux/<goarch> program, a stand-in for the
// real handler that is quick to link.
func compileHandler(t *testing.T, goarch string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	src := t.TempDir()
	writeFiles(map[string]string{
		"go.mod":  "module distziptest\n\ngo 1.22\n",
		"main.go": "package main\n\nfunc main() { println(\"distzip test handler\") }\n",
	})(t, src)
	out := filepath.Join(t.TempDir(), "handler-linux-"+goarch)
	cmd := exec.Command(goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build for linux/%s: %v\n%s", goarch, err, b)
	}
	return out
}

// validTree writes a repository with two functions plus files that must
// not ship: Go sources, tests, testdata and a folder without function.json.
func validTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeFiles(map[string]string{
		"host.json":                              testHost,
		"go.mod":                                 "module example.com/app\n",
		"functions/alpha/function.json":          httpFunction,
		"functions/alpha/alpha.go":               "package alpha\n",
		"functions/alpha/alpha_test.go":          "package alpha\n",
		"functions/alpha/testdata/req.json":      `{"bindings": []}`,
		"functions/alpha/testdata/function.json": httpFunction,
		"functions/beta/function.json":           timerFunction,
		"functions/beta/beta.go":                 "package beta\n",
		"functions/shared/shared.go":             "package shared\n",
		"functions/README.md":                    "not a function\n",
		"tools/simulator/main.go":                "package main\n",
	})(t, root)
	return root
}

func writeFiles(files map[string]string) func(t *testing.T, root string) {
	return func(t *testing.T, root string) {
		t.Helper()
		for name, content := range files {
			p := filepath.Join(root, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func openZip(t *testing.T, path string) []*zip.File {
	t.Helper()
	r, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("open zip: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r.File
}

func names(files []*zip.File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	return out
}

func readEntry(t *testing.T, f *zip.File) []byte {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc) // also verifies the CRC
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
	return b
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertOnly checks dir holds exactly the named files, catching leftover
// temp files and partial zips.
func assertOnly(t *testing.T, dir string, want ...string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, de := range des {
		got = append(got, de.Name())
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}
