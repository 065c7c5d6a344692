package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/seatsync/seatsync/shared/funchost"
	"github.com/seatsync/seatsync/shared/httpapi"
	"github.com/seatsync/seatsync/shared/ncrontab"
	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
)

// apiKeyFile is where a generated API key is kept in SEATSYNC_DATA_DIR.
const apiKeyFile = "api-key"

// serve runs standalone: it serves the HTTP functions with its own key
// check, fires the timer from function.json, and runs Service Bus-triggered
// functions from the durable table queue, all through the same protocol
// decoding as under the Functions host.
func serve(ctx context.Context, getenv func(string) (string, bool), stdout, stderr io.Writer) error {
	cfg, err := LoadConfig(ModeServe, getenv)
	if err != nil {
		return err
	}
	log := newLogger(stdout, cfg.LogLevel)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("%s: create data directory: %w", envDataDir, err)
	}
	key, generated, err := loadOrCreateKey(cfg)
	if err != nil {
		return err
	}
	// Shown at once: if start-up fails further on, the key is not lost.
	if generated {
		fmt.Fprintf(stderr, "seatsync: generated an API key and saved it in %s (mode 0600):\n  %s\n", filepath.Join(cfg.DataDir, apiKeyFile), key.Reveal())
	}
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	queue := a.queue

	mux := http.NewServeMux()
	if err := a.routes(mux, func(h http.Handler) http.Handler { return httpapi.RequireKey(key, log, h) }); err != nil {
		return err
	}
	mux.HandleFunc("/", a.notFound)
	srv := newServer(cfg.Listen, httpapi.Log(log, mux))

	var workers []func(context.Context) error
	for _, f := range a.fns {
		tr := f.Trigger()
		switch tr.Type {
		case "timerTrigger":
			sched, err := scheduleOf(tr, getenv, cfg)
			if err != nil {
				return fmt.Errorf("function %s: %w", f.Name, err)
			}
			workers = append(workers, (&funchost.TimerRunner{Handler: a.invoke, Function: f.Name, Binding: tr.Name, Schedule: sched, Log: log}).Run)
		case "serviceBusTrigger":
			d := &funchost.Dispatcher{Queue: queue, Handler: a.invoke, Function: f.Name, Binding: tr.Name, Log: log, Concurrency: cfg.SyncConcurrency}
			workers = append(workers, d.Run, func(ctx context.Context) error { return sweep(ctx, queue, log) })
		}
	}

	base := "http://" + cfg.Listen
	fmt.Fprintf(stderr, "seatsync: serving on %s (API key: header %s or ?code=)\n", base, httpapi.KeyHeader)
	log.Info("standalone mode", "listen", cfg.Listen, "queue", cfg.Queue, "concurrency", cfg.SyncConcurrency, "version", version)

	wctx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			if err := w(wctx); err != nil {
				log.Error("worker stopped", "error", err.Error())
			}
		})
	}
	err = listenUntilDone(ctx, srv, log)
	stopWorkers()
	wg.Wait()
	if err == nil {
		log.Info("stopped cleanly")
	}
	return err
}

// scheduleOf resolves a timer's schedule, expanding %SETTING% with the
// environment and the documented default of SEATSYNC_SYNC_SCHEDULE.
func scheduleOf(b funchost.Binding, getenv func(string) (string, bool), cfg Config) (*ncrontab.Schedule, error) {
	expr, err := ncrontab.Expand(b.Schedule, func(name string) (string, bool) {
		if v, ok := getenv(name); ok && strings.TrimSpace(v) != "" {
			return v, true
		}
		if name == envSyncSchedule {
			return cfg.SyncSchedule.String(), true
		}
		return "", false
	})
	if err != nil {
		return nil, err
	}
	return ncrontab.Parse(expr)
}

// sweep drops completed queue rows once their duplicate window has passed.
func sweep(ctx context.Context, q *tables.Queue, log *slog.Logger) error {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if n, err := q.Sweep(ctx); err != nil && ctx.Err() == nil {
				log.Warn("queue sweep failed", "error", err.Error())
			} else if n > 0 {
				log.Info("queue sweep", "removed", n)
			}
		}
	}
}

// loadOrCreateKey returns SEATSYNC_API_KEY, or the key kept in the data
// directory, or a new one written there (0600) on first run.
func loadOrCreateKey(cfg Config) (seatsync.Secret, bool, error) {
	if !cfg.APIKey.IsZero() {
		return cfg.APIKey, false, nil
	}
	path := filepath.Join(cfg.DataDir, apiKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k := strings.TrimSpace(string(b))
		if len(k) < 16 {
			return seatsync.Secret{}, false, fmt.Errorf("%s is too short to be an API key; delete it to generate a new one", path)
		}
		return seatsync.NewSecret(k), false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return seatsync.Secret{}, false, fmt.Errorf("read API key: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return seatsync.Secret{}, false, err
	}
	k := base64.RawURLEncoding.EncodeToString(raw[:])
	if err := writeFileAtomic(path, []byte(k+"\n"), 0o600); err != nil {
		return seatsync.Secret{}, false, fmt.Errorf("save API key: %w", err)
	}
	return seatsync.NewSecret(k), true, nil
}

// writeFileAtomic writes via a temporary file and a rename, so a crash
// leaves the old file or the new one, never half of one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
