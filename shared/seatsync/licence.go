package seatsync

import "time"

// License is one SKU of one tenant, as the PSA API serves it: the prepaid
// units by state, what is consumed and what is left.
type License struct {
	TenantID         string    `json:"tenantId,omitempty"`
	TenantName       string    `json:"tenantName,omitempty"`
	SkuID            string    `json:"skuId"`
	SkuPartNumber    string    `json:"skuPartNumber"`
	ProductName      string    `json:"productName"`
	Enabled          int       `json:"enabled"`
	Suspended        int       `json:"suspended"`
	Warning          int       `json:"warning"`
	LockedOut        int       `json:"lockedOut"`
	Consumed         int       `json:"consumed"`
	Available        int       `json:"available"`
	CapabilityStatus string    `json:"capabilityStatus"`
	AppliesTo        string    `json:"appliesTo"`
	SubscriptionIDs  []string  `json:"subscriptionIds"`
	SyncedAt         time.Time `json:"syncedAt"`
}

// Subscription is one subscription of a tenant: Graph's directory
// subscription joined, where Partner Center knows it, with its billing terms.
type Subscription struct {
	SubscriptionID         string     `json:"subscriptionId"`
	CommerceSubscriptionID string     `json:"commerceSubscriptionId"`
	SkuID                  string     `json:"skuId"`
	SkuPartNumber          string     `json:"skuPartNumber"`
	ProductName            string     `json:"productName"`
	Quantity               int        `json:"quantity"`
	Status                 string     `json:"status"`
	IsTrial                bool       `json:"isTrial"`
	CreatedAt              *time.Time `json:"createdAt"`
	NextLifecycleAt        *time.Time `json:"nextLifecycleAt"`
	BillingCycle           string     `json:"billingCycle,omitempty"`
	TermDuration           string     `json:"termDuration,omitempty"`
	CommitmentEndAt        *time.Time `json:"commitmentEndAt,omitempty"`
	AutoRenew              *bool      `json:"autoRenew,omitempty"`
}

// UserCounts are the user numbers MSPs bill by.
type UserCounts struct {
	LicensedUsers int       `json:"licensedUsers"`
	EnabledUsers  int       `json:"enabledUsers"`
	SyncedAt      time.Time `json:"syncedAt"`
}

// Change is one quantity that differs from the previous sync.
type Change struct {
	TenantID      string    `json:"tenantId"`
	SkuID         string    `json:"skuId"`
	SkuPartNumber string    `json:"skuPartNumber"`
	Field         string    `json:"field"` // enabled, suspended, warning, lockedOut, consumed
	From          int       `json:"from"`
	To            int       `json:"to"`
	DetectedAt    time.Time `json:"detectedAt"`
	RunID         string    `json:"runId"`
}

// Per-tenant results of a run.
const (
	ResultPending   = "pending"
	ResultSucceeded = "succeeded"
	ResultFailed    = "failed"
)
