package graph

import (
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// Customer is one customer tenant as a partner-level list shows it.
type Customer struct {
	// TenantID is the customer's tenant id, a lower-case GUID.
	TenantID    string
	DisplayName string
	// DefaultDomain is the customer's default domain as DAP contracts
	// record it: a copy made when the relationship was established, not
	// kept up to date (Organization has the live one). "" for GDAP.
	DefaultDomain string
	// Relationship is seatsync.RelationshipGDAP or seatsync.RelationshipDAP.
	Relationship string
	// ContractType is the DAP contract's type (SyndicationPartner,
	// BreadthPartner, ResellerPartner); "" for GDAP.
	ContractType string
}

// SubscribedSku is one SKU a tenant has subscribed to, with its licence
// counts. Fields the older documentation lacks (AccountID, AccountName,
// PrepaidUnits.LockedOut, SubscriptionIDs) are zero or nil when absent.
type SubscribedSku struct {
	// ID is Graph's id of the SKU in the tenant, "{tenantId}_{skuId}".
	ID          string
	AccountID   string
	AccountName string
	// SkuID is the SKU's GUID (lower case), the key of the product-names
	// catalog.
	SkuID         string
	SkuPartNumber string
	// AppliesTo is User or Company; only User SKUs are assignable.
	AppliesTo string
	// CapabilityStatus is Enabled, Warning, Suspended, Deleted or
	// LockedOut.
	CapabilityStatus string
	// ConsumedUnits is the number of licences assigned.
	ConsumedUnits int
	PrepaidUnits  LicenseUnits
	// SubscriptionIDs are the ids of the tenant's subscriptions to the
	// SKU; nil when the response did not say.
	SubscriptionIDs []string
}

// LicenseUnits are a SKU's prepaid units by state.
type LicenseUnits struct {
	// Enabled units are active and assignable.
	Enabled int
	// Suspended units belong to a cancelled subscription; they can be
	// reactivated before they are deleted.
	Suspended int
	// Warning units are in the grace period after the subscription ended.
	Warning int
	// LockedOut units belong to a subscription the customer cancelled.
	LockedOut int
}

// CompanySubscription is one subscription in a tenant's directory
// (GET /directory/subscriptions): the per-subscription quantity, status and
// dates that subscribedSkus sums up per SKU.
type CompanySubscription struct {
	ID string
	// CommerceSubscriptionID joins the subscription to Partner Center's.
	CommerceSubscriptionID string
	SkuID                  string
	SkuPartNumber          string
	// Status is Enabled, Deleted, Suspended, Warning or LockedOut.
	Status string
	// TotalLicenses is the number of seats in the subscription.
	TotalLicenses int
	IsTrial       bool
	// CreatedDateTime and NextLifecycleDateTime (when the status moves on
	// unless renewed) are zero when absent.
	CreatedDateTime       time.Time
	NextLifecycleDateTime time.Time
	OwnerID               string
	// OwnerTenantID is the partner tenant that created the subscription,
	// which tells CSP-sold subscriptions from others.
	OwnerTenantID string
	OwnerType     string
}

// Organization is a tenant's organization object: its live name and
// domains.
type Organization struct {
	ID          string
	DisplayName string
	// DefaultDomain is the verified domain marked default; the initial
	// (onmicrosoft.com) domain, or the first one, when none is.
	DefaultDomain string
	// InitialDomain is the tenant's onmicrosoft.com domain.
	InitialDomain   string
	VerifiedDomains []string
}

// UserCounts are the user numbers MSPs bill by.
type UserCounts struct {
	// LicensedUsers counts users with at least one licence assigned.
	LicensedUsers int
	// EnabledMembers counts enabled member (not guest) users.
	EnabledMembers int
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func num(p *int32) int {
	if p == nil {
		return 0
	}
	return int(*p)
}

func flag(p *bool) bool { return p != nil && *p }

func when(p *time.Time) time.Time {
	if p == nil {
		return time.Time{}
	}
	return p.UTC()
}

// tenantID normalises a tenant id from a response: a lower-case GUID, or
// "" for anything else.
func tenantID(s string) string {
	s = strings.TrimSpace(s)
	if !seatsync.IsGUID(s) {
		return ""
	}
	return strings.ToLower(s)
}
