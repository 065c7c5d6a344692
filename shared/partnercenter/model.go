package partnercenter

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// Customer is one customer of the partner.
type Customer struct {
	// TenantID is the customer's Entra tenant id, lower case, which is also
	// its Partner Center customer id.
	TenantID    string
	CompanyName string
	Domain      string
	// RelationshipToPartner is "reseller", "advisor", "none", … as sent.
	RelationshipToPartner string
}

// Subscription is one of a customer's Partner Center subscriptions. String
// fields hold Partner Center's values as sent (billingCycle "monthly",
// termDuration "P1Y", …); an absent field is "", 0, false or nil.
type Subscription struct {
	// ID is the subscription id; it is what Graph reports as the commerce
	// subscription id.
	ID string
	// OfferID is "{productId}:{skuId}:{availabilityId}" for new commerce,
	// a GUID for legacy offers; absent on some legacy subscriptions.
	OfferID      string
	OfferName    string
	FriendlyName string
	Quantity     int
	// UnitType is "Licenses", "Usage-based", "none", ….
	UnitType string
	// Status is "active", "suspended", "deleted", "expired", ….
	Status string
	// CreationDate, EffectiveStartDate: when it was bought and took effect.
	CreationDate       *time.Time
	EffectiveStartDate *time.Time
	// CommitmentEndDate is the end of the current term (a date, at
	// midnight UTC); far in the future for subscriptions without a term.
	CommitmentEndDate *time.Time
	// CommitmentEndDateTime is the precise end of the term where newer
	// payloads send it.
	CommitmentEndDateTime *time.Time
	AutoRenewEnabled      bool
	// BillingCycle is "monthly", "annual", "triennial", "none", ….
	BillingCycle string
	// TermDuration is ISO 8601: "P1M", "P1Y", "P3Y".
	TermDuration string
	// BillingType is "license", "usage", "none".
	BillingType string
	IsTrial     bool
	// ParentSubscriptionID is set on add-ons.
	ParentSubscriptionID string
	// ProductType is productType.id: "OnlineServicesNCE", "Software", ….
	ProductType string
	// ContractType is "subscription", "productKey", "redemptionCode".
	ContractType string
}

// collection is a Partner Center resource collection, one page of it.
type collection[T any] struct {
	TotalCount        int    `json:"totalCount"`
	Items             []T    `json:"items"`
	ContinuationToken string `json:"continuationToken"`
	Links             struct {
		Next *link `json:"next"`
	} `json:"links"`
}

// link is a Partner Center link: a URI, usually relative, and the headers
// the next request must carry.
type link struct {
	URI     string      `json:"uri"`
	Method  string      `json:"method"`
	Headers linkHeaders `json:"headers"`
}

// linkHeaders are a link's headers. The documented form is a list of
// {"key","value"}; an object of names to values is accepted too, since the
// list form is the one a serialiser of a dictionary would not produce and we
// cannot check a live customers page.
type linkHeaders [][2]string

func (h *linkHeaders) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		for k, v := range m {
			*h = append(*h, [2]string{k, v})
		}
		return nil
	}
	var list []struct{ Key, Value string }
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	for _, kv := range list {
		*h = append(*h, [2]string{kv.Key, kv.Value})
	}
	return nil
}

type wireCustomer struct {
	ID             string `json:"id"`
	CompanyProfile struct {
		TenantID    string `json:"tenantId"`
		Domain      string `json:"domain"`
		CompanyName string `json:"companyName"`
	} `json:"companyProfile"`
	RelationshipToPartner string `json:"relationshipToPartner"`
}

// tenantID picks the customer's tenant id: companyProfile.tenantId, which is
// what the field means, else id, which the docs say is the same value (their
// example shows a placeholder in tenantId and a GUID in id).
func (w wireCustomer) tenantID() string {
	for _, s := range []string{w.CompanyProfile.TenantID, w.ID} {
		if s = strings.TrimSpace(s); seatsync.IsGUID(s) {
			return strings.ToLower(s)
		}
	}
	return ""
}

type wireSubscription struct {
	ID           string `json:"id"`
	OfferID      string `json:"offerId"`
	OfferName    string `json:"offerName"`
	FriendlyName string `json:"friendlyName"`
	ProductType  struct {
		ID string `json:"id"`
	} `json:"productType"`
	Quantity              int    `json:"quantity"`
	UnitType              string `json:"unitType"`
	CreationDate          string `json:"creationDate"`
	EffectiveStartDate    string `json:"effectiveStartDate"`
	CommitmentEndDate     string `json:"commitmentEndDate"`
	CommitmentEndDateTime string `json:"commitmentEndDateTime"`
	Status                string `json:"status"`
	AutoRenewEnabled      bool   `json:"autoRenewEnabled"`
	IsTrial               bool   `json:"isTrial"`
	BillingType           string `json:"billingType"`
	BillingCycle          string `json:"billingCycle"`
	TermDuration          string `json:"termDuration"`
	ParentSubscriptionID  string `json:"parentSubscriptionId"`
	ContractType          string `json:"contractType"`
}

func (w wireSubscription) subscription(ctx context.Context, log *slog.Logger) Subscription {
	date := func(field, v string) *time.Time {
		t, ok := parseDate(v)
		if !ok {
			log.DebugContext(ctx, "partnercenter: unreadable date ignored",
				"subscriptionId", w.ID, "field", field, "value", clean(v, "", 64))
		}
		return t
	}
	return Subscription{
		ID:                    w.ID,
		OfferID:               w.OfferID,
		OfferName:             w.OfferName,
		FriendlyName:          w.FriendlyName,
		Quantity:              w.Quantity,
		UnitType:              w.UnitType,
		Status:                w.Status,
		CreationDate:          date("creationDate", w.CreationDate),
		EffectiveStartDate:    date("effectiveStartDate", w.EffectiveStartDate),
		CommitmentEndDate:     date("commitmentEndDate", w.CommitmentEndDate),
		CommitmentEndDateTime: date("commitmentEndDateTime", w.CommitmentEndDateTime),
		AutoRenewEnabled:      w.AutoRenewEnabled,
		BillingCycle:          w.BillingCycle,
		TermDuration:          w.TermDuration,
		BillingType:           w.BillingType,
		IsTrial:               w.IsTrial,
		ParentSubscriptionID:  w.ParentSubscriptionID,
		ProductType:           w.ProductType.ID,
		ContractType:          w.ContractType,
	}
}

// parseDate reads a Partner Center date leniently: RFC 3339 with or without
// fractional seconds or zone (no zone is taken as UTC, which every
// documented Partner Center date is in), a space for the "T", and the stray spaces after colons in
// Partner Center's examples. "" and .NET's default date 0001-01-01 mean no
// date (nil, ok). A value it cannot read is nil, not ok.
func parseDate(v string) (*time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, true
	}
	v = strings.ToUpper(v)
	// A space for the "T" (at index 10, after the date) becomes the "T";
	// every other space is a stray one, after a colon or before the zone.
	if len(v) > 10 && v[10] == ' ' {
		v = v[:10] + "T" + v[11:]
	}
	v = strings.ReplaceAll(v, " ", "")
	// time.Parse accepts a fractional second after the seconds even when
	// the layout has none, so these cover the fractional forms too.
	layouts := [...]string{
		"2006-01-02T15:04:05Z07:00",
		"2006-01-02T15:04:05Z0700",
		"2006-01-02T15:04:05",
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04",
		"2006-01-02",
	}
	for _, layout := range layouts {
		t, err := time.Parse(layout, v)
		if err != nil {
			continue
		}
		if t.Year() <= 1 {
			return nil, true
		}
		t = t.UTC()
		return &t, true
	}
	return nil, false
}
