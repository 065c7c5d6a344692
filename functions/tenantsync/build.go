package tenantsync

import (
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/catalog"
	"github.com/seatsync/seatsync/shared/partnercenter"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// built is a tenant's rows as the API serves them.
type built struct {
	licenses      []seatsync.License
	subscriptions []seatsync.Subscription
	counts        seatsync.UserCounts
}

// build turns what was read into rows:
//
//   - one licence per subscribed SKU, named from the catalog (the part
//     number when the catalog does not know it). Its subscription ids are
//     Graph's; where the response did not say (the older shape), the
//     commerce ids of the SKU's directory subscriptions, which is what
//     Graph's list holds. A SKU without an id cannot be keyed and is left
//     out.
//   - one subscription per directory subscription, joined with the Partner
//     Center subscription whose id is its commerce subscription id: the
//     term, billing cycle, commitment end and auto-renewal come from
//     Partner Center, and so does the quantity (what Microsoft bills; Graph's
//     totalLicenses otherwise). Partner Center subscriptions that Graph does
//     not list (an Azure plan) are rows of their own.
//   - the counts.
func build(f fetched, names *catalog.Catalog) built {
	var b built
	commerceBySku := map[string][]string{}
	for _, s := range f.subs {
		if s.CommerceSubscriptionID != "" {
			sku := strings.ToLower(s.SkuID)
			commerceBySku[sku] = append(commerceBySku[sku], s.CommerceSubscriptionID)
		}
	}
	for _, k := range f.skus {
		sku := strings.ToLower(k.SkuID)
		if !seatsync.IsGUID(sku) {
			continue
		}
		ids := k.SubscriptionIDs
		if ids == nil {
			ids = commerceBySku[sku]
		}
		if ids == nil {
			ids = []string{}
		}
		b.licenses = append(b.licenses, seatsync.License{SkuID: sku, SkuPartNumber: k.SkuPartNumber,
			ProductName: names.Name(sku, k.SkuPartNumber), Enabled: k.PrepaidUnits.Enabled, Suspended: k.PrepaidUnits.Suspended,
			Warning: k.PrepaidUnits.Warning, LockedOut: k.PrepaidUnits.LockedOut, Consumed: k.ConsumedUnits,
			CapabilityStatus: k.CapabilityStatus, AppliesTo: k.AppliesTo, SubscriptionIDs: ids})
	}

	pcByID := map[string]partnercenter.Subscription{}
	for _, p := range f.pcSubs {
		if id := strings.ToLower(strings.TrimSpace(p.ID)); id != "" {
			pcByID[id] = p
		}
	}
	joined := map[string]bool{}
	for _, g := range f.subs {
		if g.ID == "" && g.CommerceSubscriptionID == "" {
			continue
		}
		s := seatsync.Subscription{SubscriptionID: g.ID, CommerceSubscriptionID: g.CommerceSubscriptionID,
			SkuID: strings.ToLower(g.SkuID), SkuPartNumber: g.SkuPartNumber, ProductName: names.Name(g.SkuID, g.SkuPartNumber),
			Quantity: g.TotalLicenses, Status: g.Status, IsTrial: g.IsTrial, CreatedAt: optTime(g.CreatedDateTime),
			NextLifecycleAt: optTime(g.NextLifecycleDateTime)}
		id := strings.ToLower(strings.TrimSpace(g.CommerceSubscriptionID))
		if p, ok := pcByID[id]; ok && id != "" {
			joined[id] = true
			s.Quantity = p.Quantity
			terms(&s, p)
		}
		b.subscriptions = append(b.subscriptions, s)
	}
	for _, p := range f.pcSubs {
		id := strings.ToLower(strings.TrimSpace(p.ID))
		if id == "" || joined[id] {
			continue
		}
		joined[id] = true
		name := p.FriendlyName
		if name == "" {
			name = p.OfferName
		}
		s := seatsync.Subscription{CommerceSubscriptionID: p.ID, ProductName: name, Quantity: p.Quantity,
			Status: graphStatus(p.Status), IsTrial: p.IsTrial, CreatedAt: p.CreationDate}
		terms(&s, p)
		b.subscriptions = append(b.subscriptions, s)
	}

	b.counts = seatsync.UserCounts{LicensedUsers: f.counts.LicensedUsers, EnabledUsers: f.counts.EnabledMembers}
	return b
}

// farFuture is where Partner Center puts the commitment end of a
// subscription without a term (9999-12-14 for an Azure plan).
var farFuture = time.Date(9000, time.January, 1, 0, 0, 0, 0, time.UTC)

// terms copies Partner Center's billing terms onto s. The commitment end is
// the last day of the term (commitmentEndDate), or the precise end where
// only that was sent; none for a subscription without a term.
func terms(s *seatsync.Subscription, p partnercenter.Subscription) {
	s.BillingCycle, s.TermDuration = p.BillingCycle, p.TermDuration
	end := p.CommitmentEndDate
	if end == nil {
		end = p.CommitmentEndDateTime
	}
	if end != nil && end.Before(farFuture) {
		e := end.UTC()
		s.CommitmentEndAt = &e
	}
	autoRenew := p.AutoRenewEnabled
	s.AutoRenew = &autoRenew
}

// graphStatus gives a Partner Center-only subscription a status in Graph's
// words, which every other subscription row uses: active is Enabled,
// expired (in its grace period) Warning, suspended Suspended, deleted
// Deleted; anything else as Partner Center sent it.
func graphStatus(pc string) string {
	switch strings.ToLower(pc) {
	case "active":
		return "Enabled"
	case "expired":
		return "Warning"
	case "suspended", "disabled":
		return "Suspended"
	case "deleted":
		return "Deleted"
	}
	return pc
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
