package main

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"go/token"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	hostFile     = "host.json"
	functionsDir = "functions"
	functionFile = "function.json"

	binaryMode fs.FileMode = 0o755
	dataMode   fs.FileMode = 0o644
	zipMode    fs.FileMode = 0o644

	// defaultEpoch (2000-01-01T00:00:00Z) stamps entries when
	// SOURCE_DATE_EPOCH is unset; any fixed value keeps builds reproducible.
	defaultEpoch = 946684800
	// dosEpoch (1980-01-01T00:00:00Z) is the earliest time a zip's MS-DOS
	// date field can hold.
	dosEpoch = 315532800

	buildHint = "build with GOOS=linux GOARCH=amd64"
)

// options are the inputs of one build.
type options struct {
	Root    string    // folder holding host.json and functions/
	Binary  string    // custom handler executable
	Out     string    // zip to write
	ModTime time.Time // entry time; zero means defaultEpoch
}

// result describes a written zip.
type result struct {
	Path    string
	Entries int
	Size    int64
}

// entry is one file of the zip. JSON files are kept in memory so the bytes
// shipped are the bytes validated; the binary is streamed from src.
type entry struct {
	name string
	data []byte
	src  string
	mode fs.FileMode
}

// build validates the inputs and, only if all are valid, writes the zip
// atomically, so a failed build never leaves a partial zip at opts.Out.
func build(opts options) (result, error) {
	mtime, err := zipTime(opts.ModTime)
	if err != nil {
		return result{}, err
	}
	entries, err := collect(opts)
	if err != nil {
		return result{}, err
	}
	size, err := writeZip(opts.Out, entries, mtime)
	if err != nil {
		return result{}, err
	}
	return result{Path: opts.Out, Entries: len(entries), Size: size}, nil
}

// collect gathers and validates every entry. It reports all problems at once
// so one run shows everything that needs fixing.
func collect(opts options) ([]entry, error) {
	var errs []error

	hostPath := filepath.Join(opts.Root, hostFile)
	hostData, execName, err := readHost(hostPath)
	if err != nil {
		errs = append(errs, err)
	}

	funcs, err := readFunctions(filepath.Join(opts.Root, functionsDir))
	if err != nil {
		errs = append(errs, err)
	}

	if err := checkBinary(opts.Binary); err != nil {
		errs = append(errs, err)
	}

	for _, in := range []string{opts.Binary, hostPath} {
		if sameFile(opts.Out, in) {
			errs = append(errs, fmt.Errorf("%s: output would overwrite input %s", opts.Out, in))
		}
	}

	if execName != "" {
		// A function folder named like the executable would need both a
		// file and a folder of that name in the zip.
		for _, f := range funcs {
			if strings.TrimSuffix(f.name, "/"+functionFile) == execName {
				errs = append(errs, fmt.Errorf("%s: defaultExecutablePath %q collides with function folder %s",
					hostPath, execName, filepath.Join(opts.Root, functionsDir, execName)))
			}
		}
	}

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	entries := append(funcs,
		entry{name: hostFile, data: hostData, mode: dataMode},
		entry{name: execName, src: opts.Binary, mode: binaryMode},
	)
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return entries, nil
}

// hostConfig is the part of host.json the custom handler depends on.
type hostConfig struct {
	Version       string `json:"version"`
	CustomHandler struct {
		Description struct {
			DefaultExecutablePath string `json:"defaultExecutablePath"`
		} `json:"description"`
	} `json:"customHandler"`
}

// readHost reads and validates host.json, returning its bytes and the
// executable name the Functions host will start.
func readHost(path string) ([]byte, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("reading host config: %w", err)
	}
	var cfg hostConfig
	if err := decodeJSON(data, &cfg); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	var errs []error
	if cfg.Version != "2.0" {
		errs = append(errs, fmt.Errorf("%s: version is %q, want \"2.0\"", path, cfg.Version))
	}
	name := cfg.CustomHandler.Description.DefaultExecutablePath
	if err := checkExecName(name); err != nil {
		errs = append(errs, fmt.Errorf("%s: customHandler.description.defaultExecutablePath: %w", path, err))
		name = ""
	}
	if len(errs) > 0 {
		return nil, name, errors.Join(errs...)
	}
	return data, name, nil
}

// checkExecName ensures the executable lands at the root of the zip, where
// the Functions host looks for it, and cannot escape or shadow other entries.
func checkExecName(name string) error {
	switch {
	case name == "":
		return errors.New("missing or empty")
	case strings.ContainsAny(name, `/\`) || strings.Contains(name, ".."):
		return fmt.Errorf("%q must be a plain file name (no path separators, no \"..\")", name)
	case name == ".":
		return fmt.Errorf("%q is not a file name", name)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%q has leading or trailing space", name)
	case name == hostFile:
		return fmt.Errorf("%q collides with %s", name, hostFile)
	}
	return nil
}

// functionConfig is the part of function.json the host requires.
type functionConfig struct {
	Bindings []map[string]any `json:"bindings"`
}

// readFunctions returns one entry per functions/<name>/function.json.
// Folders without function.json (shared code, testdata) are skipped.
func readFunctions(dir string) ([]entry, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading functions folder: %w", err)
	}
	var (
		entries []entry
		errs    []error
	)
	for _, de := range des {
		folder := filepath.Join(dir, de.Name())
		if fi, err := os.Stat(folder); err != nil || !fi.IsDir() {
			continue // stray files next to the function folders
		}
		cfgPath := filepath.Join(folder, functionFile)
		fi, err := os.Stat(cfgPath)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", cfgPath, err))
			continue
		case !fi.Mode().IsRegular():
			errs = append(errs, fmt.Errorf("%s: not a regular file", cfgPath))
			continue
		}
		if err := checkFunctionName(de.Name()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", folder, err))
		}
		data, err := readFunction(cfgPath)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Zip names always use forward slashes.
		entries = append(entries, entry{name: de.Name() + "/" + functionFile, data: data, mode: dataMode})
	}
	if len(errs) == 0 && len(entries) == 0 {
		errs = append(errs, fmt.Errorf("%s: no function folders with %s", dir, functionFile))
	}
	if len(errs) > 0 {
		return entries, errors.Join(errs...)
	}
	return entries, nil
}

// checkFunctionName enforces folder = function name = Go package name.
func checkFunctionName(name string) error {
	for i, r := range name {
		lower := r >= 'a' && r <= 'z'
		digit := r >= '0' && r <= '9'
		if !lower && !(digit && i > 0) {
			return fmt.Errorf("function folder name %q must be lowercase letters and digits, starting with a letter (it is the function name and the Go package name)", name)
		}
	}
	if token.IsKeyword(name) {
		return fmt.Errorf("function folder name %q is a Go keyword and cannot be a package name", name)
	}
	return nil
}

// readFunction reads and validates one function.json.
func readFunction(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading function config: %w", err)
	}
	var cfg functionConfig
	if err := decodeJSON(data, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(cfg.Bindings) == 0 {
		return nil, fmt.Errorf("%s: missing or empty \"bindings\" array", path)
	}
	var errs []error
	for i, b := range cfg.Bindings {
		for _, key := range []string{"type", "direction", "name"} {
			if s, ok := b[key].(string); !ok || s == "" {
				errs = append(errs, fmt.Errorf("%s: bindings[%d]: missing or non-string %q", path, i, key))
			}
		}
		if d, ok := b["direction"].(string); ok && d != "" && d != "in" && d != "out" && d != "inout" {
			errs = append(errs, fmt.Errorf("%s: bindings[%d]: direction %q, want in, out or inout", path, i, d))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return data, nil
}

// decodeJSON unmarshals data and turns encoding/json errors into messages
// that point at the line or field at fault.
func decodeJSON(data []byte, v any) error {
	// The Functions host tolerates a UTF-8 BOM (common from Windows
	// editors); encoding/json does not.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	err := json.Unmarshal(data, v)
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &syn):
		line := 1 + bytes.Count(data[:min(int(syn.Offset), len(data))], []byte("\n"))
		return fmt.Errorf("invalid JSON at line %d: %w", line, err)
	case errors.As(err, &typ) && typ.Field != "":
		return fmt.Errorf("field %s must not be a JSON %s: %w", typ.Field, typ.Value, err)
	default:
		return fmt.Errorf("invalid JSON: %w", err)
	}
}

// checkBinary refuses anything but a Linux x86-64 ELF executable, the only
// thing the Linux Functions workers can run.
func checkBinary(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("binary: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: binary is not a regular file", path)
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: found %s, want a Linux ELF executable; %s (%w)", path, sniffFormat(path), buildHint, err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("%s: found an ELF for %v (%v), want %v (%v); %s",
			path, f.Machine, f.Class, elf.EM_X86_64, elf.ELFCLASS64, buildHint)
	}
	if f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		return fmt.Errorf("%s: found an ELF for OS ABI %v, want Linux; %s", path, f.OSABI, buildHint)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%s: found an ELF of type %v, want an executable; %s", path, f.Type, buildHint)
	}
	return nil
}

// sniffFormat names common wrong binary formats, so a build made with the
// host's GOOS gets a message saying what it is.
func sniffFormat(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "an unreadable file"
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return "a file too short to be an executable"
	}
	switch {
	case magic[0] == 'M' && magic[1] == 'Z':
		return "a Windows PE executable"
	case bytes.Equal(magic[:], []byte{0xfe, 0xed, 0xfa, 0xce}),
		bytes.Equal(magic[:], []byte{0xfe, 0xed, 0xfa, 0xcf}),
		bytes.Equal(magic[:], []byte{0xce, 0xfa, 0xed, 0xfe}),
		bytes.Equal(magic[:], []byte{0xcf, 0xfa, 0xed, 0xfe}),
		bytes.Equal(magic[:], []byte{0xca, 0xfe, 0xba, 0xbe}):
		return "a macOS Mach-O executable"
	default:
		return "an unrecognised file format"
	}
}

// sameFile reports whether the output path names the input file, so a
// mistyped -out cannot replace the binary or host.json with the zip.
func sameFile(out, in string) bool {
	if a, b := filepath.Clean(out), filepath.Clean(in); a == b {
		return true
	}
	oi, err := os.Stat(out)
	if err != nil {
		return false
	}
	ii, err := os.Stat(in)
	if err != nil {
		return false
	}
	return os.SameFile(oi, ii)
}

// zipTime normalises the entry time: UTC so the DOS fields do not depend on
// the local zone, and within what the zip time fields can represent.
func zipTime(t time.Time) (time.Time, error) {
	if t.IsZero() {
		return time.Unix(defaultEpoch, 0).UTC(), nil
	}
	if t.Unix() < dosEpoch {
		// Reproducible-builds practice: clamp rather than fail.
		return time.Unix(dosEpoch, 0).UTC(), nil
	}
	if t.Unix() > math.MaxUint32 {
		return time.Time{}, fmt.Errorf("modification time %v is beyond what zip timestamps hold", t)
	}
	return t.UTC().Truncate(time.Second), nil
}

// modTime parses SOURCE_DATE_EPOCH; empty means the default epoch.
func modTime(env string) (time.Time, error) {
	if env == "" {
		return time.Unix(defaultEpoch, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(env, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a non-negative Unix timestamp", env)
	}
	t, err := zipTime(time.Unix(n, 0))
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", env, err)
	}
	return t, nil
}

// writeZip writes entries to a temp file next to out and renames it into
// place, so readers never see a partial zip.
func writeZip(out string, entries []entry, mtime time.Time) (size int64, err error) {
	dir := filepath.Dir(out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("creating output folder: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("creating temp zip: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close() // may already be closed; the write error matters more
			os.Remove(tmp.Name())
		}
	}()

	zw := zip.NewWriter(tmp)
	for _, e := range entries {
		if err := addEntry(zw, e, mtime); err != nil {
			return 0, fmt.Errorf("%s: adding %s: %w", out, e.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return 0, fmt.Errorf("%s: finishing zip: %w", out, err)
	}
	if err := tmp.Chmod(zipMode); err != nil {
		return 0, fmt.Errorf("%s: %w", out, err)
	}
	if err := tmp.Sync(); err != nil {
		return 0, fmt.Errorf("%s: %w", out, err)
	}
	fi, err := tmp.Stat()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("%s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return 0, fmt.Errorf("%s: %w", out, err)
	}
	return fi.Size(), nil
}

func addEntry(zw *zip.Writer, e entry, mtime time.Time) error {
	h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mtime}
	// SetMode also marks the entry as made on Unix (CreatorVersion);
	// without that, extractors ignore the mode bits and the handler
	// loses its execute bit.
	h.SetMode(e.mode)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	if e.src == "" {
		_, err = w.Write(e.data)
		return err
	}
	f, err := os.Open(e.src)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
