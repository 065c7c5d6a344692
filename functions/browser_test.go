package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/seatsync/seatsync/shared/mscloudsim"
	"github.com/seatsync/seatsync/shared/tables"
	"github.com/seatsync/seatsync/shared/tables/tablestest"
)

// chromium returns the path of a headless-capable Chromium. Outside CI a
// machine without one skips the browser tests and says so; under CI=true
// (where .ci/run installs Debian's chromium) its absence is a failure.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium on PATH: CI must install Debian's chromium (.ci/run does)")
	}
	t.Skip("skipped: browser test needs Chromium (Debian package chromium); none on PATH")
	return ""
}

func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelT)
	return ctx
}

// TestBrowserConsent is the MSP's first step, in a real browser: open
// /api/consent, click Consent on the (simulated) Microsoft page, land on the
// success page; then the API says connected and validated, and a sync run
// was started.
func TestBrowserConsent(t *testing.T) {
	ctx := browser(t)
	cs := tablestest.ConnectionString(t)
	bin := buildBinary(t)
	sim := mscloudsim.New(mscloudsim.Options{Tenants: 6, Seed: 7})
	urls, err := sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)

	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	prefix := tablestest.Name("br")
	dataDir := t.TempDir()
	p := startSeatsync(t, bin, map[string]string{
		envTablesConnString: cs, envTablePrefix: prefix, envDataDir: dataDir,
		envListen: fmt.Sprintf("127.0.0.1:%d", port), envPublicURL: base,
		envLoginURL: urls.Login, envGraphURL: urls.Graph, envPartnerCenterURL: urls.PartnerCenter, envSKUCatalogURL: urls.CatalogCSV,
		envClientID: mscloudsim.DefaultClientID, envClientSecret: mscloudsim.DefaultClientSecret,
		envQueue: tablestest.Name("brq"),
	}, "serve")
	p.waitListening(t, port)
	key := strings.TrimSpace(string(mustRead(t, filepath.Join(dataDir, apiKeyFile))))

	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/api/consent?code="+key),
		chromedp.WaitVisible(chromedp.CSS(`button[value="consent"]`)),
		chromedp.Click(chromedp.CSS(`button[value="consent"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main`)),
	)
	if err != nil {
		t.Fatalf("browser: %v\nseatsync stdout:\n%s", err, p.stdout)
	}
	page, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	if !strings.Contains(strings.ToLower(page), "connected") || !strings.Contains(strings.ToLower(page), "validated") {
		t.Fatalf("the page after consent does not say connected and validated:\n%s\nseatsync stdout:\n%s", page, p.stdout)
	}

	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/connection", nil)
	req.Header.Set("x-functions-key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var conn struct {
		Status               string `json:"status"`
		PartnerTenantID      string `json:"partnerTenantId"`
		CredentialsValidated bool   `json:"credentialsValidated"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&conn); err != nil {
		t.Fatal(err)
	}
	if conn.Status != "connected" || !conn.CredentialsValidated || conn.PartnerTenantID != sim.Estate().Partner.TenantID {
		t.Fatalf("connection = %+v", conn)
	}

	svc, err := tables.NewFromConnectionString(cs, &tables.Options{TablePrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	run, err := tables.NewRuns(svc).Latest(t.Context())
	if err != nil {
		t.Fatalf("no run was started after consent: %v", err)
	}
	if run.Trigger != "consent" {
		t.Fatalf("latest run = %+v, want trigger consent", run)
	}
	if strings.Contains(p.stdout.String(), mscloudsim.DefaultClientSecret) {
		t.Fatal("the client secret reached the log")
	}
}
