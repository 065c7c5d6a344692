// Command seatsync is the whole product in one binary: under the Azure
// Functions host it is the custom handler of every function in this folder;
// as "seatsync serve" it plays the host itself (HTTP routes, the timer and a
// durable queue), for local use and for MSPs who run it on their own server.
package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/seatsync/seatsync/functions/nightlysync"
	"github.com/seatsync/seatsync/functions/tenantsync"
	"github.com/seatsync/seatsync/shared/funchost"
	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/httpapi"
	"github.com/seatsync/seatsync/shared/logctx"
	"github.com/seatsync/seatsync/shared/partnercenter"
	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
)

// functionFiles are the function.json files: the same ones the host reads
// in Azure tell standalone mode the routes, key levels and schedule.
//
//go:embed */function.json
var functionFiles embed.FS

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "seatsync:", err)
		os.Exit(1)
	}
}

const usage = `seatsync keeps every customer tenant's Microsoft 365 licence counts for a CSP partner.

Usage:
  seatsync serve     run standalone: the API, the nightly timer and the sync queue
  seatsync handler   run as the Azure Functions custom handler (the host starts it)
  seatsync version   print the version

Settings come from the environment; see local.settings.sample.json and README.md.
`

func run(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) error {
	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	} else if _, ok := getenv(envCustomHandlerPort); ok {
		cmd = "handler"
	}
	switch cmd {
	case "serve":
		return serve(ctx, getenv, stdout, stderr)
	case "handler":
		return handler(ctx, getenv, stdout)
	case "version":
		fmt.Fprintln(stdout, "seatsync", version)
		return nil
	case "", "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
	}
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return logctx.NewJSON(w, l)
}

// app is everything both modes share: config, adapters and the handlers of
// every function.
type app struct {
	cfg   Config
	log   *slog.Logger
	fns   []funchost.Function
	svc   *tables.Service
	store *tables.Store
	// httpFuncs are the HTTP-triggered functions' handlers, by name.
	httpFuncs map[string]http.Handler
	// invoke serves POST /{function} for the other triggers: the host's
	// protocol in Azure, in-process calls standalone.
	invoke *http.ServeMux
	// queue is standalone mode's durable table queue, which its dispatcher
	// receives from; nil in Azure.
	queue *tables.Queue
	// sender sends tenant-sync messages: the table queue standalone, the
	// Service Bus queue in Azure.
	sender seatsync.Queue
	// runs starts sync runs; nil when no queue is available.
	runs seatsync.RunStarter
	// tenantSync handles the tenant-sync messages; without the app
	// registration it fails each message as not configured.
	tenantSync *tenantsync.Handler
	// graph and partnerCenter are the partner's Microsoft clients; nil
	// without the app registration.
	graph         *graph.Client
	partnerCenter *partnercenter.Client
}

func newApp(ctx context.Context, cfg Config, log *slog.Logger) (*app, error) {
	fns, err := funchost.LoadFunctions(functionFiles)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, fns: fns, invoke: http.NewServeMux()}
	a.invoke.Handle("/", funchost.UnknownFunction(log))
	if !cfg.TablesConnectionString.IsZero() {
		if a.svc, err = tables.NewFromConnectionString(cfg.TablesConnectionString.Reveal(), &tables.Options{TablePrefix: cfg.TablePrefix}); err != nil {
			err = fmt.Errorf("%s: %w", envTablesConnString, err)
		}
	} else {
		var cred *azidentity.DefaultAzureCredential
		if cred, err = azidentity.NewDefaultAzureCredential(nil); err == nil {
			a.svc, err = tables.New(cfg.TablesURL, cred, &tables.Options{TablePrefix: cfg.TablePrefix})
		}
	}
	if err != nil {
		return nil, err
	}
	// The host waits 60 s for readiness; do not let storage eat all of it.
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := a.svc.EnsureTables(tctx, append(tables.AllTables(), tables.LicenceTables()...)...); err != nil {
		return nil, fmt.Errorf("table storage is not reachable or not writable: %w", err)
	}
	a.store = tables.NewStore(a.svc)
	a.tenantSync = tenantsync.New(log)

	if err := a.wireConsentAndRuns(); err != nil {
		return nil, err
	}
	other := map[string]http.Handler{}
	for _, f := range fns {
		tr := f.Trigger()
		switch tr.Type {
		case "httpTrigger":
			continue
		case "timerTrigger":
			if f.Name == "nightlysync" {
				other[f.Name] = funchost.HandleTimer(log, f.Name, tr.Name, nightlysync.New(log, a.runs).Handle)
			}
		case "serviceBusTrigger":
			if f.Name == "tenantsync" {
				other[f.Name] = funchost.HandleServiceBus(log, f.Name, tr.Name, a.tenantSync.Handle)
			}
		}
		h, ok := other[f.Name]
		if !ok {
			return nil, fmt.Errorf("function %s (%s) has no handler in this binary", f.Name, tr.Type)
		}
		a.invoke.Handle("POST /"+f.Name, h)
	}
	for name := range a.httpFuncs {
		if f, ok := a.function(name); !ok || f.Trigger().Type != "httpTrigger" {
			return nil, fmt.Errorf("handler %s has no HTTP function.json", name)
		}
	}
	return a, nil
}

func (a *app) function(name string) (funchost.Function, bool) {
	for _, f := range a.fns {
		if f.Name == name {
			return f, true
		}
	}
	return funchost.Function{}, false
}

// routes adds every HTTP function under /api to mux; guard wraps the
// handlers whose authLevel demands a key (standalone mode checks it itself).
func (a *app) routes(mux *http.ServeMux, guard func(http.Handler) http.Handler) error {
	for _, f := range a.fns {
		tr := f.Trigger()
		if tr.Type != "httpTrigger" {
			continue
		}
		pattern, err := tr.Pattern("api")
		if err != nil {
			return err
		}
		h := a.httpFuncs[f.Name]
		if h == nil {
			return fmt.Errorf("function %s has no handler in this binary", f.Name)
		}
		if tr.RequiresKey() {
			h = guard(h)
		}
		mux.Handle(pattern, h)
	}
	return nil
}

// notFound answers unknown routes in the API's error format.
func (a *app) notFound(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteError(w, r, a.log, seatsync.Errorf(seatsync.ENotFound, "There is nothing at %s; the API is under /api/v1/.", r.URL.Path))
}

// handler runs under the Functions host: it listens on 127.0.0.1 only, on
// the port the host gives, and trusts the host's key check.
func handler(ctx context.Context, getenv func(string) (string, bool), stdout io.Writer) error {
	cfg, err := LoadConfig(ModeHandler, getenv)
	if err != nil {
		return err
	}
	log := newLogger(stdout, cfg.LogLevel)
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", funchost.Ready)
	mux.Handle("POST /{function}", a.invoke)
	api := http.NewServeMux()
	if err := a.routes(api, func(h http.Handler) http.Handler { return h }); err != nil {
		return err
	}
	mux.Handle("/api/", httpapi.Log(log, api))
	mux.Handle("/", funchost.UnknownFunction(log))
	srv := newServer(fmt.Sprintf("127.0.0.1:%d", cfg.CustomHandlerPort), mux)
	log.Info("custom handler listening", "port", cfg.CustomHandlerPort, "version", version)
	return listenUntilDone(ctx, srv, log)
}

func newServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Invocations may run long (a tenant sync with throttling); the
		// host's own functionTimeout bounds them.
		WriteTimeout: 35 * time.Minute,
		IdleTimeout:  2 * time.Minute,
	}
}

// listenUntilDone serves until ctx ends, then shuts down gracefully.
func listenUntilDone(ctx context.Context, srv *http.Server, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("listen on %s: %w", srv.Addr, err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
