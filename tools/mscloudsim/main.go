// Command mscloudsim runs the Microsoft cloud simulator (package
// shared/mscloudsim) for local development: the identity platform, Graph,
// Partner Center and the SKU catalog on four loopback ports, with a seeded
// estate of customer tenants. `make run` starts it and points seatsync serve
// at it, so that the whole product runs with no Microsoft account.
//
// Usage:
//
//	mscloudsim [-tenants 25] [-seed 1] [-host 127.0.0.1] [-ports 0] [-env FILE] [-latency 0]
//
// -ports is the first of four consecutive ports (login, Graph, Partner
// Center, catalog); 0 picks free ports. -env writes the SEATSYNC_* settings
// that point seatsync at the simulator, as `export NAME='value'` lines for a
// shell to source; it is written once all four services listen, so a script
// may wait for the file. The login listener also serves GET /sim/calls and
// GET /sim/estate (JSON). The simulator stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/seatsync/seatsync/shared/mscloudsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process exit and signals, for tests: it serves
// until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mscloudsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tenants := fs.Int("tenants", mscloudsim.DefaultTenants, "number of customer tenants")
	seed := fs.Int64("seed", 1, "seed of the estate (same seed, same estate)")
	host := fs.String("host", "127.0.0.1", "address to listen on")
	ports := fs.Int("ports", 0, "first of four consecutive ports (login, Graph, Partner Center, catalog); 0 picks free ports")
	envFile := fs.String("env", "", "write the SEATSYNC_* settings to this file as export lines for a shell")
	latency := fs.Duration("latency", 0, "latency added to every request")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mscloudsim: unexpected arguments: %q\n", fs.Args())
		return 2
	}
	if *tenants < 1 || *tenants > 100_000 {
		fmt.Fprintln(stderr, "mscloudsim: -tenants must be from 1 to 100000")
		return 2
	}
	if *ports < 0 || *ports > 65532 {
		fmt.Fprintln(stderr, "mscloudsim: -ports must be 0 or a port from 1 to 65532")
		return 2
	}
	if *latency < 0 {
		fmt.Fprintln(stderr, "mscloudsim: -latency must not be negative")
		return 2
	}

	sim := mscloudsim.New(mscloudsim.Options{Seed: *seed, Tenants: *tenants, Latency: *latency})
	urls, err := sim.StartOn(*host, *ports)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer sim.Close()
	if *envFile != "" {
		if err := writeEnv(*envFile, urls); err != nil {
			fmt.Fprintf(stderr, "mscloudsim: %v\n", err)
			return 1
		}
	}
	e := sim.Estate()
	fmt.Fprintf(stdout, "mscloudsim: the Microsoft cloud simulator (seed %d)\n", *seed)
	fmt.Fprintf(stdout, "  login           %s\n", urls.Login)
	fmt.Fprintf(stdout, "  graph           %s\n", urls.Graph)
	fmt.Fprintf(stdout, "  partner center  %s\n", urls.PartnerCenter)
	fmt.Fprintf(stdout, "  sku catalog     %s\n", urls.CatalogCSV)
	fmt.Fprintf(stdout, "  app             client id %s, secret %s\n", e.Partner.ClientID, mscloudsim.DefaultClientSecret)
	fmt.Fprintf(stdout, "  counters        %s/sim/calls, estate %s/sim/estate\n", urls.Login, urls.Login)
	if *envFile != "" {
		fmt.Fprintf(stdout, "  settings        . %s\n", *envFile)
	}
	for _, line := range strings.Split(strings.TrimSpace(e.Summary()), "\n") {
		fmt.Fprintf(stdout, "  %s\n", line)
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "mscloudsim: stopping")
	return 0
}

// settings are the SEATSYNC_* settings that point seatsync at urls.
func settings(urls mscloudsim.URLs) [][2]string {
	return [][2]string{
		{"SEATSYNC_LOGIN_URL", urls.Login},
		{"SEATSYNC_GRAPH_URL", urls.Graph},
		{"SEATSYNC_PARTNER_CENTER_URL", urls.PartnerCenter},
		{"SEATSYNC_SKU_CATALOG_URL", urls.CatalogCSV},
		{"SEATSYNC_CLIENT_ID", mscloudsim.DefaultClientID},
		{"SEATSYNC_CLIENT_SECRET", mscloudsim.DefaultClientSecret},
	}
}

// writeEnv writes the settings as `export NAME='value'` lines, mode 0600 (the
// file holds the client secret), replacing path atomically so that a reader
// waiting for it never sees half a file.
func writeEnv(path string, urls mscloudsim.URLs) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by mscloudsim at %s; source it: . %s\n", time.Now().UTC().Format(time.RFC3339), path)
	for _, kv := range settings(urls) {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".mscloudsim-env-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := tmp.WriteString(b.String())
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o600)); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
