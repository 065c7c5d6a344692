package seatsync

import (
	"context"
	"errors"
	"time"
)

// Relationship kinds: how the partner reaches a customer tenant.
const (
	RelationshipGDAP = "gdap"
	RelationshipDAP  = "dap"
	RelationshipCSP  = "csp"
)

// Tenant sync states.
const (
	TenantOK      = "ok"
	TenantError   = "error"
	TenantPending = "pending"
)

// Problem is an error as stored and shown: a stable code and words an MSP can
// act on.
type Problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Tenant is one customer tenant of the partner.
type Tenant struct {
	TenantID      string     `json:"tenantId"`
	DisplayName   string     `json:"displayName"`
	DefaultDomain string     `json:"defaultDomain"`
	Relationships []string   `json:"relationships"`
	Active        bool       `json:"active"`
	Status        string     `json:"status"`
	LastSyncedAt  *time.Time `json:"lastSyncedAt"`
	LastError     *Problem   `json:"lastError"`
}

// Connection states.
const (
	NotConnected = "not_connected"
	Connected    = "connected"
	Invalid      = "invalid"
)

// Connection is the partner's consent: who granted it, when, and whether the
// stored refresh token still works. The token itself lives in the secret store.
type Connection struct {
	Status                string     `json:"status"`
	PartnerTenantID       string     `json:"partnerTenantId"`
	ConsentedBy           string     `json:"consentedBy"`
	ConsentedAt           *time.Time `json:"consentedAt"`
	CredentialsValidated  bool       `json:"credentialsValidated"`
	ValidatedAt           *time.Time `json:"validatedAt"`
	RefreshTokenExpiresAt *time.Time `json:"refreshTokenExpiresAt"`
	LastError             *Problem   `json:"lastError"`
}

// Run triggers and states.
const (
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
	TriggerConsent  = "consent"

	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunPartial   = "partial"
	RunFailed    = "failed"
)

// Run is one sync of all (or some) tenants.
type Run struct {
	RunID            string     `json:"runId"`
	Trigger          string     `json:"trigger"`
	Status           string     `json:"status"`
	StartedAt        time.Time  `json:"startedAt"`
	FinishedAt       *time.Time `json:"finishedAt"`
	TenantsTotal     int        `json:"tenantsTotal"`
	TenantsSucceeded int        `json:"tenantsSucceeded"`
	TenantsFailed    int        `json:"tenantsFailed"`
}

// TenantSyncMessage is the body of the queue message that asks tenantsync to
// sync one tenant. It never carries a secret.
type TenantSyncMessage struct {
	RunID    string `json:"runId"`
	TenantID string `json:"tenantId"`
}

// Message is one message for the tenant-sync queue: Service Bus in Azure, the
// durable table-backed queue in standalone mode.
type Message struct {
	// ID is the MessageID, used by the queue's duplicate detection:
	// "{runId}/{tenantId}" for tenant syncs.
	ID string
	// Body is JSON.
	Body []byte
	// Properties are the application properties (strings and numbers only).
	Properties map[string]any
}

// Queue sends messages with at-least-once delivery and duplicate detection by
// Message.ID: sending an ID again while the first is still known is a no-op.
type Queue interface {
	Send(ctx context.Context, msgs []Message) error
}

// Delivery is one locked delivery of a queue message (standalone mode's
// durable queue; Service Bus does the same in Azure).
type Delivery struct {
	Message
	// DeliveryCount counts this delivery: 1 on the first.
	DeliveryCount int
	EnqueuedAt    time.Time
	// Lock identifies this delivery's lock; settling with a lost lock fails.
	Lock string
}

// TokenSource gives access tokens for calls into a tenant: the identity
// adapter implements it, the Graph and Partner Center adapters use it.
// tenantID is the tenant the token is for ("" or the partner's own tenant for
// partner-level calls); scope is one resource's ".default" scope, such as
// "https://graph.microsoft.com/.default".
type TokenSource interface {
	AccessToken(ctx context.Context, tenantID, scope string) (Secret, error)
}

// ErrSecretNotFound is wrapped by SecretStore.GetSecret when there is no
// such secret.
var ErrSecretNotFound = errors.New("secret not found")

// SecretInfo is what is kept beside a secret: never secret itself.
type SecretInfo struct {
	ContentType string
	Tags        map[string]string
	ExpiresAt   *time.Time
	UpdatedAt   time.Time
}

// SecretStore keeps the partner's refresh token: Key Vault in Azure, local
// files (mode 0600) in standalone mode.
type SecretStore interface {
	// GetSecret returns the current value; an error wrapping
	// ErrSecretNotFound if there is none.
	GetSecret(ctx context.Context, name string) (Secret, SecretInfo, error)
	// SetSecret stores value as the new current version.
	SetSecret(ctx context.Context, name string, value Secret, info SecretInfo) error
}

// RunStarter starts a sync run: the nightly timer, POST /api/v1/sync and the
// first run after consent all go through it. tenantIDs nil means every
// active tenant.
type RunStarter interface {
	StartRun(ctx context.Context, trigger string, tenantIDs []string) (Run, error)
}
