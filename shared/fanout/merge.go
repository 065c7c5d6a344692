package fanout

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// kindOrder is the order relationship kinds are recorded in.
var kindOrder = []string{seatsync.RelationshipGDAP, seatsync.RelationshipDAP, seatsync.RelationshipCSP}

// Which list's name and domain win when several list a tenant. GDAP's
// displayName is the tenant's Entra name; Partner Center's companyName is the
// customer's company profile; a DAP contract's displayName and
// defaultDomainName are copies made when the relationship was established.
// GDAP has no domain.
var (
	namePriority   = []string{seatsync.RelationshipGDAP, seatsync.RelationshipCSP, seatsync.RelationshipDAP}
	domainPriority = []string{seatsync.RelationshipDAP, seatsync.RelationshipCSP}
)

func sortKinds(kinds []string) []string {
	slices.SortFunc(kinds, func(a, b string) int {
		ia, ib := slices.Index(kindOrder, a), slices.Index(kindOrder, b)
		if ia < 0 {
			ia = len(kindOrder)
		}
		if ib < 0 {
			ib = len(kindOrder)
		}
		return cmp.Or(cmp.Compare(ia, ib), strings.Compare(a, b))
	})
	return slices.Compact(kinds)
}

// merge returns every tenant as its row should now be (in tenant id order)
// and those of them whose row must be written, from the existing rows and
// the lists (at least one of which answered). complete says every list
// answered: only then does a tenant no list shows become inactive.
//
// A listed tenant is active, with the kinds of the lists that show it plus
// the kinds it had from lists that failed, and the best name and domain the
// lists give (its old ones when they give none). A new tenant is pending.
// Status, lastSyncedAt and lastError are kept.
func merge(existing []seatsync.Tenant, lists []listing, complete bool) (all, changed []seatsync.Tenant) {
	old := make(map[string]seatsync.Tenant, len(existing))
	for _, t := range existing {
		old[t.TenantID] = t
	}
	failedKinds := map[string]bool{}
	// seen[tenant][kind] is what that list says of the tenant.
	seen := map[string]map[string]customer{}
	for _, l := range lists {
		if l.err != nil {
			failedKinds[l.src.kind] = true
			continue
		}
		for _, c := range l.customers {
			id := strings.ToLower(strings.TrimSpace(c.tenantID))
			if !seatsync.IsGUID(id) {
				continue // the clients drop these already
			}
			if seen[id] == nil {
				seen[id] = map[string]customer{}
			}
			if _, dup := seen[id][l.src.kind]; !dup {
				seen[id][l.src.kind] = c
			}
		}
	}

	next := make(map[string]seatsync.Tenant, max(len(old), len(seen)))
	for id, byKind := range seen {
		t, had := old[id]
		if !had {
			t = seatsync.Tenant{TenantID: id, Status: seatsync.TenantPending}
		}
		var kinds []string
		for k := range byKind {
			kinds = append(kinds, k)
		}
		for _, k := range t.Relationships {
			if failedKinds[k] {
				kinds = append(kinds, k)
			}
		}
		t.Relationships = sortKinds(kinds)
		t.Active = true
		if n := pick(byKind, namePriority, func(c customer) string { return c.name }); n != "" {
			t.DisplayName = n
		}
		if d := pick(byKind, domainPriority, func(c customer) string { return c.domain }); d != "" {
			t.DefaultDomain = d
		}
		next[id] = t
	}
	for id, t := range old {
		if _, listed := seen[id]; listed {
			continue
		}
		if complete {
			t.Active = false
		}
		next[id] = t
	}

	for _, id := range slices.Sorted(maps.Keys(next)) {
		t := next[id]
		all = append(all, t)
		if o, had := old[id]; !had || !sameRow(o, t) {
			changed = append(changed, t)
		}
	}
	return all, changed
}

// pick returns the first non-empty field of the lists in priority order.
func pick(byKind map[string]customer, priority []string, field func(customer) string) string {
	for _, k := range priority {
		if c, ok := byKind[k]; ok {
			if v := strings.TrimSpace(field(c)); v != "" {
				return v
			}
		}
	}
	return ""
}

// sameRow reports whether merge left the fields it sets unchanged.
func sameRow(a, b seatsync.Tenant) bool {
	return a.DisplayName == b.DisplayName && a.DefaultDomain == b.DefaultDomain && a.Active == b.Active &&
		a.Status == b.Status && slices.Equal(a.Relationships, b.Relationships)
}
