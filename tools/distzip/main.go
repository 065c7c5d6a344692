// Command distzip builds the Azure Functions deployment zip for seatsync.
//
// The zip holds host.json, one <name>/function.json per function folder and
// the custom handler binary, and nothing else: the Functions host only needs
// those, and local tooling (cloud simulator, tools/, Go sources) must never
// ship. Output is deterministic so identical inputs give identical bytes.
//
// Usage (from make dist):
//
//	go run ./tools/distzip -root . -binary dist/seatsync -out dist/seatsync.zip
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process exit, so tests can drive the CLI.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("distzip", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "repository root holding host.json and functions/")
	binary := fs.String("binary", "", "linux/amd64 custom handler binary to ship (required)")
	out := fs.String("out", "", "zip file to write (required)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "distzip: unexpected arguments: %q\n", fs.Args())
		return 2
	}
	if *binary == "" || *out == "" {
		fmt.Fprintln(stderr, "distzip: -binary and -out are required")
		fs.Usage()
		return 2
	}

	mtime, err := modTime(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		fmt.Fprintf(stderr, "distzip: %v\n", err)
		return 1
	}
	res, err := build(options{Root: *root, Binary: *binary, Out: *out, ModTime: mtime})
	if err != nil {
		fmt.Fprintf(stderr, "distzip: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %d entries, %d bytes\n", res.Path, res.Entries, res.Size)
	return 0
}
