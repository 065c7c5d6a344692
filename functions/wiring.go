package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/seatsync/seatsync/functions/consent"
	"github.com/seatsync/seatsync/functions/psaapi"
	"github.com/seatsync/seatsync/functions/tenantsync"
	"github.com/seatsync/seatsync/shared/catalog"
	"github.com/seatsync/seatsync/shared/fanout"
	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/identity"
	"github.com/seatsync/seatsync/shared/keyvault"
	"github.com/seatsync/seatsync/shared/localsecrets"
	"github.com/seatsync/seatsync/shared/partnercenter"
	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/servicebus"
	"github.com/seatsync/seatsync/shared/tables"
)

// wireConsentAndRuns builds the secret store, the identity client, the
// partner's token source, the Microsoft clients and the run starter, and the
// HTTP functions that use them.
func (a *app) wireConsentAndRuns() error {
	cfg, log := a.cfg, a.log
	secrets, err := a.secretStore()
	if err != nil {
		return err
	}
	switch {
	case cfg.Mode == ModeServe:
		// A short lock (renewed while a tenant syncs) brings back the work
		// of a crashed process within seconds of a restart.
		if a.queue, err = tables.NewQueue(a.svc, cfg.Queue, &tables.QueueOptions{LockDuration: 15 * time.Second}); err != nil {
			return err
		}
		a.sender = a.queue
	case cfg.ServiceBusNamespace != "":
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return fmt.Errorf("%s: no Azure credential: %w", envServiceBus, err)
		}
		sb, err := servicebus.New(cfg.ServiceBusNamespace, cfg.Queue, cred, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", envServiceBus, err)
		}
		a.sender = sb
	}
	copts := consent.Options{
		Secrets:     secrets,
		States:      tables.NewConsentStates(a.svc),
		Connections: a.store,
		PublicURL:   cfg.PublicURL,
		GraphURL:    cfg.GraphURL,
		Log:         log,
	}
	if cfg.ClientID != "" && !cfg.ClientSecret.IsZero() {
		idc, err := identity.New(cfg.LoginURL, cfg.ClientID, cfg.ClientSecret, &identity.Options{Log: log})
		if err != nil {
			return fmt.Errorf("%s, %s: %w", envClientID, envClientSecret, err)
		}
		copts.Identity = idc
		if copts.Validate, err = consent.NewValidator(idc, cfg.GraphURL, cfg.PartnerCenterURL, &consent.ValidatorOptions{Log: log}); err != nil {
			return err
		}
		tokens, err := identity.NewTokens(idc, &partnerRefreshToken{secrets: secrets, conns: a.store}, nil)
		if err != nil {
			return err
		}
		if err := a.microsoftClients(tokens); err != nil {
			return err
		}
		if a.tenantSync, err = tenantsync.NewHandler(tenantsync.Options{Graph: a.graph, PartnerCenter: a.partnerCenter,
			Catalog:  catalog.NewSource(cfg.SKUCatalogURL, a.svc.Table(tables.CatalogTable), &catalog.Options{Log: log}),
			Licences: tables.NewLicences(a.svc), Runs: tables.NewRuns(a.svc), Log: log}); err != nil {
			return err
		}
		if a.sender != nil {
			if a.runs, err = a.runStarter(); err != nil {
				return err
			}
			copts.Runs = a.runs
		}
	}
	a.httpFuncs = map[string]http.Handler{
		"psaapi": psaapi.New(a.store, log, &psaapi.Options{
			PublicURL: cfg.PublicURL,
			Licences:  tables.NewLicences(a.svc),
			Runs:      runProgress{tables.NewRuns(a.svc)},
			Starter:   a.runs,
		}),
		"consent":         consent.Start(copts),
		"consentcallback": consent.Callback(copts),
	}
	return nil
}

// secretStore is Key Vault when SEATSYNC_KEYVAULT_URL is set (always in
// Azure), else 0600 files under SEATSYNC_DATA_DIR/secrets (standalone).
func (a *app) secretStore() (seatsync.SecretStore, error) {
	if a.cfg.KeyVaultURL != "" {
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("%s: no Azure credential: %w", envKeyVaultURL, err)
		}
		kv, err := keyvault.New(a.cfg.KeyVaultURL, cred, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envKeyVaultURL, err)
		}
		return kv, nil
	}
	ls, err := localsecrets.New(filepath.Join(a.cfg.DataDir, "secrets"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envDataDir, err)
	}
	return ls, nil
}

// microsoftClients builds the Graph and Partner Center clients once, for
// the fan-out and tenantsync alike.
func (a *app) microsoftClients(tokens seatsync.TokenSource) (err error) {
	if a.graph, err = graph.New(a.cfg.GraphURL, tokens, &graph.Options{Log: a.log}); err != nil {
		return fmt.Errorf("%s: %w", envGraphURL, err)
	}
	if a.partnerCenter, err = partnercenter.New(a.cfg.PartnerCenterURL, tokens, &partnercenter.Options{Log: a.log}); err != nil {
		return fmt.Errorf("%s: %w", envPartnerCenterURL, err)
	}
	return nil
}

func (a *app) runStarter() (seatsync.RunStarter, error) {
	starter, err := fanout.New(fanout.Options{Graph: a.graph, PartnerCenter: a.partnerCenter, Store: a.store, Runs: tables.NewRuns(a.svc), Queue: a.sender, Log: a.log})
	if err != nil {
		return nil, err
	}
	return connectionGuard{next: resumingStarter{starter, a.log}, conns: a.store, log: a.log}, nil
}

// partnerRefreshToken is the identity cache's refresh-token store: the
// secret of whichever partner tenant is connected now (consent may change
// it while the process runs).
type partnerRefreshToken struct {
	secrets seatsync.SecretStore
	conns   *tables.Store
}

func (p *partnerRefreshToken) current(ctx context.Context) (*seatsync.RefreshTokens, error) {
	c, err := p.conns.Connection(ctx)
	if err != nil {
		return nil, err
	}
	if c.PartnerTenantID == "" {
		return nil, nil
	}
	return &seatsync.RefreshTokens{Store: p.secrets, PartnerTenantID: c.PartnerTenantID}, nil
}

// Load returns the connected partner's refresh token, or an empty Secret
// when no partner has consented yet.
func (p *partnerRefreshToken) Load(ctx context.Context) (seatsync.Secret, error) {
	rt, err := p.current(ctx)
	if err != nil || rt == nil {
		return seatsync.Secret{}, err
	}
	return rt.Load(ctx)
}

// Save stores a rotated refresh token of the connected partner.
func (p *partnerRefreshToken) Save(ctx context.Context, old, new seatsync.Secret) error {
	rt, err := p.current(ctx)
	if err != nil || rt == nil {
		return err
	}
	return rt.Save(ctx, old, new)
}

// connectionGuard marks the connection invalid, with Microsoft's reason in
// an MSP's words, when a run cannot start because the partner's refresh
// token is refused (expired, revoked, MFA or consent needed, bad client
// secret). Transient failures (throttling, outages) leave it alone.
type connectionGuard struct {
	next  seatsync.RunStarter
	conns *tables.Store
	log   *slog.Logger
}

func (g connectionGuard) StartRun(ctx context.Context, trigger string, tenantIDs []string) (seatsync.Run, error) {
	run, err := g.next.StartRun(ctx, trigger, tenantIDs)
	ie, ok := errors.AsType[*identity.Error](err)
	if !ok || ie.Transient() {
		return run, err
	}
	c, cerr := g.conns.Connection(ctx)
	if cerr == nil && c.PartnerTenantID != "" {
		c.Status, c.CredentialsValidated = seatsync.Invalid, false
		c.LastError = &seatsync.Problem{Code: ie.Code(), Message: ie.Message()}
		cerr = g.conns.PutConnection(ctx, c)
	}
	if cerr != nil {
		g.log.ErrorContext(ctx, "could not mark the connection invalid", "error", cerr.Error())
	}
	return run, err
}

// runProgress serves the PSA API's run routes: the runs table's progress,
// and the id of the run that started last.
type runProgress struct{ *tables.Runs }

func (r runProgress) LatestID(ctx context.Context) (string, error) {
	rec, err := r.Latest(ctx)
	if err != nil {
		return "", err
	}
	return rec.RunID, nil
}

// resumer is a run starter that can send the rest of a run's messages.
type resumer interface {
	seatsync.RunStarter
	Resume(ctx context.Context, runID string) error
}

// resumingStarter retries, once, the sending of a run whose fan-out stopped
// part way (the run is recorded; the queue's duplicate detection drops what
// was already sent), so a brief queue hiccup does not leave a run that
// never finishes.
type resumingStarter struct {
	next resumer
	log  *slog.Logger
}

func (r resumingStarter) StartRun(ctx context.Context, trigger string, tenantIDs []string) (seatsync.Run, error) {
	run, err := r.next.StartRun(ctx, trigger, tenantIDs)
	se, ok := errors.AsType[*fanout.SendError](err)
	if !ok {
		return run, err
	}
	r.log.WarnContext(ctx, "fan-out stopped part way; sending the rest", "runId", se.RunID, "error", se.Err.Error())
	if rerr := r.next.Resume(ctx, se.RunID); rerr != nil {
		return run, err
	}
	return run, nil
}
