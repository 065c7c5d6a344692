package mscloudsim

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BaseDate is the day estate dates are counted from when Options.Now is nil.
var BaseDate = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// Relationship kinds, as seatsync records them.
const (
	RelGDAP = "gdap"
	RelDAP  = "dap"
	RelCSP  = "csp"
)

// Failure is how a tenant is configured to fail.
type Failure string

// Failures. The token failures answer at the customer tenant's authority
// ({login}/{tenantId}/oauth2/v2.0/token); the Graph ones answer Graph calls
// made with a good token.
const (
	FailureNone Failure = ""
	// FailureConsentMissing: token request → AADSTS65001 (invalid_grant).
	FailureConsentMissing Failure = "consent_missing"
	// FailureMFARequired: token request → AADSTS50076 (invalid_grant).
	FailureMFARequired Failure = "mfa_required"
	// FailureTokenExpired: refresh → AADSTS700082 (invalid_grant).
	FailureTokenExpired Failure = "token_expired"
	// FailureTenantNotFound: token request → AADSTS90002 (invalid_tenant);
	// the tenant still shows in the partner's lists.
	FailureTenantNotFound Failure = "tenant_not_found"
	// FailureNoAdminRelationship: a Direct CSP customer with neither GDAP
	// nor DAP; token request → AADSTS50020.
	FailureNoAdminRelationship Failure = "no_admin_relationship"
	// FailureNoRoles: the GDAP relationship grants no role; tokens are
	// issued and Graph answers 403 Authorization_RequestDenied.
	FailureNoRoles Failure = "no_roles"
	// FailureDeleted: the tenant was deleted; tokens are issued and Graph
	// answers 404 Request_ResourceNotFound.
	FailureDeleted Failure = "deleted"
)

// GDAP role template ids granted to the partner's admin agents.
const (
	RoleGlobalReader    = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
	RoleDirectoryReader = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
)

// Estate is the simulator's truth.
type Estate struct {
	// BaseDate is the day the estate's dates are counted from.
	BaseDate time.Time `json:"baseDate"`
	Partner  Partner   `json:"partner"`
	Tenants  []Tenant  `json:"tenants"`
}

// Partner is the CSP partner, its app registration and its admin agent.
type Partner struct {
	TenantID      string `json:"tenantId"`
	DisplayName   string `json:"displayName"`
	DefaultDomain string `json:"defaultDomain"`
	ClientID      string `json:"clientId"`
	AppName       string `json:"appName"`
	// User is the partner's admin agent who grants consent.
	User User `json:"user"`
}

// User is a user account.
type User struct {
	ObjectID          string `json:"objectId"`
	UserPrincipalName string `json:"userPrincipalName"`
	DisplayName       string `json:"displayName"`
}

// Tenant is one customer tenant.
type Tenant struct {
	TenantID      string    `json:"tenantId"`
	DisplayName   string    `json:"displayName"`
	DefaultDomain string    `json:"defaultDomain"`
	InitialDomain string    `json:"initialDomain"`
	CountryCode   string    `json:"countryCode"`
	CreatedAt     time.Time `json:"createdAt"`
	// Relationships are RelGDAP, RelDAP, RelCSP, in that order.
	Relationships []string `json:"relationships"`
	// GDAPRoles are the role template ids of the GDAP relationship; empty
	// for a GDAP tenant whose relationship grants none.
	GDAPRoles []string `json:"gdapRoles"`
	Failure   Failure  `json:"failure,omitempty"`
	// AccountID is the billing account Graph reports on the tenant's SKUs.
	AccountID string `json:"accountId"`
	// OlderShape: Graph answers this tenant's subscribedSkus in the older
	// documented shape, without accountId, accountName, lockedOut and
	// subscriptionIds, so clients are tested on responses that lack them.
	OlderShape    bool           `json:"olderShape,omitempty"`
	SKUs          []SKU          `json:"skus"`
	Subscriptions []Subscription `json:"subscriptions"`
	Users         UserCounts     `json:"users"`
}

// Has reports whether t has relationship kind rel.
func (t Tenant) Has(rel string) bool { return slices.Contains(t.Relationships, rel) }

// SKU is one subscribedSku of a tenant; the prepaid units are the sums of
// the tenant's Graph subscriptions of the SKU by status.
type SKU struct {
	SkuID            string `json:"skuId"`
	SkuPartNumber    string `json:"skuPartNumber"`
	ProductName      string `json:"productName"`
	AppliesTo        string `json:"appliesTo"`
	CapabilityStatus string `json:"capabilityStatus"`
	Enabled          int    `json:"enabled"`
	Suspended        int    `json:"suspended"`
	Warning          int    `json:"warning"`
	LockedOut        int    `json:"lockedOut"`
	Consumed         int    `json:"consumed"`
	// SubscriptionIDs are the commerce subscription ids of the SKU's
	// subscriptions (Partner Center's subscription ids).
	SubscriptionIDs []string `json:"subscriptionIds"`
}

// Subscription is one subscription: Graph's companySubscription and, when
// the partner sold it, Partner Center's subscription (whose id is the
// CommerceSubscriptionID).
type Subscription struct {
	// ID is Graph's companySubscription id; "" when InGraph is false.
	ID                     string `json:"id"`
	CommerceSubscriptionID string `json:"commerceSubscriptionId"`
	SkuID                  string `json:"skuId"`
	SkuPartNumber          string `json:"skuPartNumber"`
	ProductName            string `json:"productName"`
	// Quantity is Graph's totalLicenses and Partner Center's quantity.
	Quantity int `json:"quantity"`
	// Status is Graph's: Enabled, Warning, Suspended, LockedOut.
	Status string `json:"status"`
	// PartnerCenterStatus is Partner Center's: active, expired, suspended,
	// deleted.
	PartnerCenterStatus string    `json:"partnerCenterStatus"`
	IsTrial             bool      `json:"isTrial"`
	CreatedAt           time.Time `json:"createdAt"`
	NextLifecycleAt     time.Time `json:"nextLifecycleAt"`
	// BillingCycle is monthly, annual or none; TermDuration P1M, P1Y or "".
	BillingCycle string `json:"billingCycle"`
	TermDuration string `json:"termDuration"`
	// CommitmentEndAt is the last day of the current term (midnight UTC);
	// far in the future for subscriptions without a term.
	CommitmentEndAt time.Time `json:"commitmentEndAt"`
	AutoRenew       bool      `json:"autoRenew"`
	OfferID         string    `json:"offerId"`
	OfferName       string    `json:"offerName"`
	OrderID         string    `json:"orderId"`
	UnitType        string    `json:"unitType"`
	BillingType     string    `json:"billingType"`
	// OwnerTenantID is the partner tenant that sold it ("" for self-service
	// trials).
	OwnerTenantID string `json:"ownerTenantId"`
	// InPartnerCenter: this partner sold it, so Partner Center lists it.
	InPartnerCenter bool `json:"inPartnerCenter"`
	// InGraph: Graph lists it (false for a Partner Center-only Azure plan).
	InGraph bool `json:"inGraph"`
}

// UserCounts are the user numbers MSPs bill by.
type UserCounts struct {
	// Total is every user object (members and guests, enabled or not).
	Total int `json:"total"`
	// EnabledMembers: accountEnabled eq true and userType eq 'Member'.
	EnabledMembers int `json:"enabledMembers"`
	// Licensed: assignedLicenses/$count ne 0.
	Licensed int `json:"licensed"`
}

// Tenant returns the tenant with id tenantID.
func (e Estate) Tenant(tenantID string) (Tenant, bool) {
	for _, t := range e.Tenants {
		if strings.EqualFold(t.TenantID, tenantID) {
			return t, true
		}
	}
	return Tenant{}, false
}

// Summary describes the estate in a few lines, for the dev binary.
func (e Estate) Summary() string {
	var gdap, dap, csp, skus, subs, pc int
	failures := map[Failure]int{}
	for _, t := range e.Tenants {
		if t.Has(RelGDAP) {
			gdap++
		}
		if t.Has(RelDAP) {
			dap++
		}
		if t.Has(RelCSP) {
			csp++
		}
		if t.Failure != FailureNone {
			failures[t.Failure]++
		}
		skus += len(t.SKUs)
		for _, s := range t.Subscriptions {
			subs++
			if s.InPartnerCenter {
				pc++
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "partner %s (%s), %d customer tenants: %d GDAP, %d DAP, %d Direct CSP\n",
		e.Partner.DisplayName, e.Partner.TenantID, len(e.Tenants), gdap, dap, csp)
	fmt.Fprintf(&b, "%d SKUs, %d subscriptions (%d in Partner Center)\n", skus, subs, pc)
	for _, f := range []Failure{FailureConsentMissing, FailureMFARequired, FailureTokenExpired, FailureTenantNotFound,
		FailureNoAdminRelationship, FailureNoRoles, FailureDeleted} {
		if failures[f] == 0 {
			continue
		}
		var ids []string
		for _, t := range e.Tenants {
			if t.Failure == f {
				ids = append(ids, t.TenantID)
			}
		}
		fmt.Fprintf(&b, "failing (%s): %s\n", f, strings.Join(ids, ", "))
	}
	return b.String()
}

func (e Estate) clone() Estate {
	c := e
	c.Tenants = make([]Tenant, len(e.Tenants))
	for i, t := range e.Tenants {
		c.Tenants[i] = t.clone()
	}
	return c
}

func (t Tenant) clone() Tenant {
	c := t
	c.Relationships = slices.Clone(t.Relationships)
	c.GDAPRoles = slices.Clone(t.GDAPRoles)
	c.Subscriptions = slices.Clone(t.Subscriptions)
	c.SKUs = make([]SKU, len(t.SKUs))
	for i, s := range t.SKUs {
		c.SKUs[i] = s
		c.SKUs[i].SubscriptionIDs = slices.Clone(s.SubscriptionIDs)
	}
	return c
}

// recomputeSKUs derives the tenant's SKUs from its Graph subscriptions,
// keeping each SKU's consumed units (consumed, for SKUs not seen before).
func (t *Tenant) recomputeSKUs(consumed map[string]int) {
	old := map[string]int{}
	for _, s := range t.SKUs {
		old[s.SkuID] = s.Consumed
	}
	for k, v := range consumed {
		old[k] = v
	}
	bySKU := map[string]*SKU{}
	var order []string
	for _, sub := range t.Subscriptions {
		if !sub.InGraph {
			continue
		}
		s := bySKU[sub.SkuID]
		if s == nil {
			p, _ := product(sub.SkuID)
			s = &SKU{SkuID: p.SkuID, SkuPartNumber: p.PartNumber, ProductName: p.Name, AppliesTo: p.AppliesTo,
				Consumed: old[sub.SkuID], SubscriptionIDs: []string{}}
			bySKU[sub.SkuID] = s
			order = append(order, sub.SkuID)
		}
		switch sub.Status {
		case "Enabled":
			s.Enabled += sub.Quantity
		case "Warning":
			s.Warning += sub.Quantity
		case "Suspended":
			s.Suspended += sub.Quantity
		case "LockedOut":
			s.LockedOut += sub.Quantity
		}
		s.SubscriptionIDs = append(s.SubscriptionIDs, sub.CommerceSubscriptionID)
	}
	slices.SortStableFunc(order, func(a, b string) int { return productIndex(a) - productIndex(b) })
	t.SKUs = t.SKUs[:0]
	for _, id := range order {
		s := bySKU[id]
		switch {
		case s.Enabled > 0:
			s.CapabilityStatus = "Enabled"
		case s.Warning > 0:
			s.CapabilityStatus = "Warning"
		case s.Suspended > 0:
			s.CapabilityStatus = "Suspended"
		default:
			s.CapabilityStatus = "LockedOut"
		}
		t.SKUs = append(t.SKUs, *s)
	}
}

// The estate generator.

type role int

const (
	roleNormal role = iota
	roleDAPOnly
	roleGDAPOnly
	roleNoRoles
	roleConsentMissing
	roleMFARequired
	roleTokenExpired
	roleTenantNotFound
	roleDeleted
	roleCSPOnly
)

// specialRoles are handed out first, in this order, to at most half of the
// tenants (so that small estates keep readable tenants) and at most once
// each, except for the second GDAP tenant without roles.
var specialRoles = []role{roleDAPOnly, roleGDAPOnly, roleNoRoles, roleConsentMissing, roleMFARequired,
	roleTokenExpired, roleTenantNotFound, roleDeleted, roleNoRoles, roleCSPOnly}

// companyNames are Microsoft's fictitious company names; two carry
// characters that need escaping in HTML and CSV.
var companyNames = []string{
	"Contoso", "Fabrikam", "Northwind Traders", "Tailspin Toys", "Adventure Works Cycles", "Litware",
	"Proseware", "Wide World Importers", "Alpine Ski House", "Coho Winery", "Lucerne Publishing",
	"Margie's Travel", "Trey Research", "Fourth Coffee", "Graphic Design Institute", "Humongous Insurance",
	"Blue Yonder Airlines", "City Power & Light", "Consolidated Messenger", "A. Datum Corporation",
	"Relecloud", "Southridge Video", "VanArsdel", "Wingtip Toys", "Bellows College", "Best For You Organics",
	"First Up Consultants", "Munson's Pickles and Preserves", "School of Fine Art", "Nod Publishers",
	"Tailwind Traders", "Lamna Healthcare", "Fincher Architects", "Baldwin Museum of Science",
	"Woodgrove Bank", "Lakeshore Retail", "Liberty's Delightful Bakery", "World Wide Importers Ltd",
}

var countries = []struct{ code, tld string }{
	{"US", ".com"}, {"GB", ".co.uk"}, {"NL", ".nl"}, {"DE", ".de"}, {"CA", ".ca"}, {"AU", ".com.au"},
}

type gen struct {
	r       *rand.Rand
	base    time.Time
	partner string
	other   string // another partner's tenant, owner of subscriptions sold elsewhere
}

// generate builds the estate for seed: deterministic, with every draw from
// one seeded stream in a fixed order.
func generate(seed int64, n int, base time.Time, partner Partner) Estate {
	key := sha256.Sum256([]byte("mscloudsim/estate/" + strconv.FormatInt(seed, 10)))
	g := &gen{
		r:       rand.New(rand.NewChaCha8(key)),
		base:    base,
		partner: partner.TenantID,
		other:   nameGUID("other-partner", strconv.FormatInt(seed, 10)),
	}
	e := Estate{BaseDate: base, Partner: partner, Tenants: make([]Tenant, n)}

	roles := make([]role, n)
	perm := g.r.Perm(n)
	specials := min(len(specialRoles), n/2)
	for i := range specials {
		roles[perm[i]] = specialRoles[i]
	}

	names := slices.Clone(companyNames)
	g.r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	slugs := map[string]int{}
	consumed := make([]map[string]int, n)
	for i := range n {
		name := names[i%len(names)]
		if k := i / len(names); k > 0 {
			name += " " + strconv.Itoa(k+1)
		}
		t := &e.Tenants[i]
		g.identity(t, name, slugs)
		g.relationships(t, roles[i])
		consumed[i] = g.licences(t)
	}

	// Features an MSP's estate has, on readable Direct CSP tenants (any
	// readable tenant if there is none), in a fixed order; small estates
	// stack several on one tenant.
	var readable, readableCSP []int
	for _, i := range perm[specials:] {
		readable = append(readable, i)
		if e.Tenants[i].Has(RelCSP) {
			readableCSP = append(readableCSP, i)
		}
	}
	if len(readableCSP) == 0 {
		readableCSP = readable
	}
	if len(readableCSP) > 0 {
		at := func(k int) (*Tenant, map[string]int) {
			i := readableCSP[k%len(readableCSP)]
			return &e.Tenants[i], consumed[i]
		}
		g.monthlyAndAnnual(at(1))
		g.severalPerSKU(at(2))
		g.trial(at(3))
		g.suspended(at(4))
		g.warning(at(5))
		g.lockedOut(at(6))
		g.azurePlan(at(7))
		g.teamsExploratory(at(8))
		for i := range e.Tenants {
			e.Tenants[i].recomputeSKUs(consumed[i])
		}
		// Last, so that no other feature changes its units afterwards.
		g.overAssigned(at(0))
	}
	older := 0
	for i := range e.Tenants {
		t := &e.Tenants[i]
		t.recomputeSKUs(consumed[i])
		g.users(t)
		// Every third readable tenant without locked-out units (which the
		// older shape cannot express) gets the older shape.
		if t.Failure == FailureNone && !slices.ContainsFunc(t.SKUs, func(s SKU) bool { return s.LockedOut > 0 }) {
			t.OlderShape = older%3 == 1
			older++
		}
	}
	return e
}

// seededRand is a random stream for one later change to the estate (a
// SetQuantity purchase), deterministic for the seed and the change's number.
func seededRand(key []byte, kind string, n uint64) *rand.Rand {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%x/%s/%d", key, kind, n)))
	return rand.New(rand.NewChaCha8(sum))
}

func (g *gen) guid() string {
	var b [16]byte
	for i := range 2 {
		v := g.r.Uint64()
		for j := range 8 {
			b[i*8+j] = byte(v >> (8 * j))
		}
	}
	return formatGUID(b[:])
}

// between returns a number in [lo, hi].
func (g *gen) between(lo, hi int) int {
	if hi <= lo {
		return lo
	}
	return lo + g.r.IntN(hi-lo+1)
}

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func (g *gen) identity(t *Tenant, name string, slugs map[string]int) {
	t.TenantID = g.guid()
	t.DisplayName = name
	slug := slugOf(name)
	slugs[slug]++
	if c := slugs[slug]; c > 1 {
		slug += strconv.Itoa(c)
	}
	c := countries[g.r.IntN(len(countries))]
	t.CountryCode = c.code
	t.InitialDomain = slug + ".onmicrosoft.com"
	t.DefaultDomain = t.InitialDomain
	if g.chance(0.5) {
		t.DefaultDomain = slug + c.tld
	}
	t.CreatedAt = g.base.AddDate(0, 0, -g.between(400, 3000)).Add(time.Duration(g.r.IntN(86400)) * time.Second)
	t.AccountID = g.guid()
}

func slugOf(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (g *gen) relationships(t *Tenant, r role) {
	roles := []string{RoleGlobalReader, RoleDirectoryReader}
	switch r {
	case roleNormal:
		t.Relationships = []string{RelGDAP, RelCSP}
		if g.chance(0.3) {
			t.Relationships = []string{RelGDAP, RelDAP, RelCSP}
		}
	case roleDAPOnly:
		t.Relationships = []string{RelDAP}
		roles = nil
	case roleGDAPOnly:
		t.Relationships = []string{RelGDAP}
	case roleNoRoles:
		t.Relationships = []string{RelGDAP, RelCSP}
		roles = []string{}
		t.Failure = FailureNoRoles
	case roleConsentMissing:
		t.Relationships = []string{RelGDAP, RelCSP}
		t.Failure = FailureConsentMissing
	case roleMFARequired:
		t.Relationships = []string{RelGDAP, RelCSP}
		t.Failure = FailureMFARequired
	case roleTokenExpired:
		t.Relationships = []string{RelGDAP, RelDAP, RelCSP}
		t.Failure = FailureTokenExpired
	case roleTenantNotFound:
		t.Relationships = []string{RelGDAP, RelCSP}
		t.Failure = FailureTenantNotFound
	case roleDeleted:
		t.Relationships = []string{RelDAP, RelCSP}
		roles = nil
		t.Failure = FailureDeleted
	case roleCSPOnly:
		t.Relationships = []string{RelCSP}
		roles = nil
		t.Failure = FailureNoAdminRelationship
	}
	if roles == nil {
		roles = []string{}
	}
	t.GDAPRoles = roles
}

// licences gives t its everyday SKUs and subscriptions and returns the
// consumed units per SKU.
func (g *gen) licences(t *Tenant) map[string]int {
	consumed := map[string]int{}
	var users int
	switch u := g.r.Float64(); {
	case u < 0.6:
		users = g.between(3, 30)
	case u < 0.9:
		users = g.between(31, 150)
	default:
		users = g.between(151, 800)
	}
	var primary string
	switch u := g.r.Float64(); {
	case u < 0.35:
		primary = SKUBusinessPremium
	case u < 0.55:
		primary = SKUBusinessStandard
	case u < 0.75:
		primary = SKUBusinessBasic
	case u < 0.9:
		primary = SKUM365E3
	default:
		primary = SKUO365E3
	}
	if p, _ := product(primary); p.MaxSeats > 0 && users > p.MaxSeats {
		primary = SKUM365E3
	}
	qty := max(1, users-g.r.IntN(users/10+1))
	g.sub(t, primary, qty, subOpts{})
	consumed[primary] = qty - g.r.IntN(qty/8+1)
	if g.chance(0.3) {
		q := g.between(1, max(2, users/8))
		g.sub(t, SKUExchangePlan1, q, subOpts{})
		consumed[SKUExchangePlan1] = max(0, q-g.r.IntN(2))
	}
	if g.chance(0.25) {
		q := g.between(1, max(1, users/10)+1)
		g.sub(t, SKUPowerBIPro, q, subOpts{})
		consumed[SKUPowerBIPro] = g.between(0, q)
	}
	if g.chance(0.12) {
		g.teams(t, consumed)
	}
	return consumed
}

// subOpts shape one subscription; the zero value is a paid, enabled
// subscription with a random term, billing cycle and age.
type subOpts struct {
	status    string // Graph status; "" is Enabled
	term      string // "" picks P1Y or P1M
	billing   string // "" picks one that fits the term
	trial     bool
	selfTrial bool // a self-service trial: not sold by any partner
	ageDays   int  // 0 picks one
}

func (g *gen) sub(t *Tenant, skuID string, qty int, o subOpts) *Subscription {
	p, _ := product(skuID)
	if o.term == "" {
		o.term = "P1M"
		if g.chance(0.6) {
			o.term = "P1Y"
		}
	}
	if o.billing == "" {
		o.billing = "monthly"
		if o.term == "P1Y" && g.chance(0.5) {
			o.billing = "annual"
		}
	}
	if o.status == "" {
		o.status = "Enabled"
	}
	if o.ageDays == 0 {
		o.ageDays = g.between(20, 900)
	}
	s := Subscription{
		ID:                     g.guid(),
		CommerceSubscriptionID: g.guid(),
		SkuID:                  p.SkuID,
		SkuPartNumber:          p.PartNumber,
		ProductName:            p.Name,
		Quantity:               qty,
		Status:                 o.status,
		IsTrial:                o.trial || o.selfTrial,
		BillingCycle:           o.billing,
		TermDuration:           o.term,
		AutoRenew:              !o.trial && !o.selfTrial && g.chance(0.85),
		OfferName:              p.Name,
		OrderID:                fmt.Sprintf("%012x", g.r.Uint64()&0xffffffffffff),
		UnitType:               "Licenses",
		BillingType:            "license",
		InGraph:                true,
	}
	s.OfferID = p.OfferProduct + ":0001:" + availability(p.OfferProduct, o.term, o.billing, s.IsTrial)
	created := g.base.AddDate(0, 0, -o.ageDays).Add(time.Duration(g.r.IntN(86400)) * time.Second)
	s.CreatedAt = created
	next := termEnd(created, o.term, g.base)
	s.CommitmentEndAt = next.AddDate(0, 0, -1)
	s.NextLifecycleAt = next
	switch o.status {
	case "Warning":
		// The term ended a few days ago without renewal: 30 days' grace.
		s.AutoRenew = false
		next = g.base.AddDate(0, 0, -g.between(2, 12))
		s.CommitmentEndAt = next.AddDate(0, 0, -1)
		s.NextLifecycleAt = next.AddDate(0, 0, 30)
		for !s.CreatedAt.Before(next) {
			s.CreatedAt = s.CreatedAt.AddDate(-1, 0, 0)
		}
		s.PartnerCenterStatus = "expired"
	case "Suspended":
		s.AutoRenew = false
		s.NextLifecycleAt = g.base.AddDate(0, 0, g.between(15, 30))
		s.PartnerCenterStatus = "suspended"
	case "LockedOut":
		s.AutoRenew = false
		s.NextLifecycleAt = g.base.AddDate(0, 0, g.between(40, 80))
		s.PartnerCenterStatus = "deleted"
	default:
		s.PartnerCenterStatus = "active"
	}
	switch {
	case o.selfTrial:
		// Nobody sold it; Partner Center does not know it.
	case t.Has(RelCSP):
		s.OwnerTenantID = g.partner
		s.InPartnerCenter = true
	default:
		s.OwnerTenantID = g.other
	}
	t.Subscriptions = append(t.Subscriptions, s)
	return &t.Subscriptions[len(t.Subscriptions)-1]
}

// termEnd returns the first term boundary after base of a term that started
// at created (the day the current term ends is the day before).
func termEnd(created time.Time, term string, base time.Time) time.Time {
	start := time.Date(created.Year(), created.Month(), created.Day(), 0, 0, 0, 0, time.UTC)
	step := func(t time.Time) time.Time {
		switch term {
		case "P1Y":
			return t.AddDate(1, 0, 0)
		case "P3Y":
			return t.AddDate(3, 0, 0)
		default:
			return t.AddDate(0, 1, 0)
		}
	}
	next := step(start)
	for !next.After(base) {
		next = step(next)
	}
	return next
}

// availability invents a Partner Center availability id for a term and
// billing cycle of a product.
func availability(productID, term, billing string, trial bool) string {
	sum := sha256.Sum256([]byte(productID + "/" + term + "/" + billing + "/" + strconv.FormatBool(trial)))
	const alphabet = "0123456789BCDFGHJKLMNPQRSTVWXZ"
	var b [12]byte
	for i := range b {
		b[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return string(b[:])
}

// lacking returns the first of candidates t has no subscription of, else the
// first product t lacks, else candidates[0].
func lacking(t *Tenant, candidates ...string) string {
	has := func(sku string) bool {
		for _, s := range t.Subscriptions {
			if s.SkuID == sku {
				return true
			}
		}
		return false
	}
	for _, c := range candidates {
		if !has(c) {
			return c
		}
	}
	for _, p := range products {
		if !has(p.SkuID) && p.SkuID != SKUTeamsExploratory {
			return p.SkuID
		}
	}
	return candidates[0]
}

func (g *gen) teams(t *Tenant, consumed map[string]int) {
	for _, s := range t.Subscriptions {
		if s.SkuID == SKUTeamsExploratory {
			return
		}
	}
	g.sub(t, SKUTeamsExploratory, 100, subOpts{selfTrial: true, term: "P1Y", billing: "none", ageDays: g.between(30, 300)})
	consumed[SKUTeamsExploratory] = g.between(1, 12)
}

// monthlyAndAnnual: the tenant's main SKU on an annual term billed annually
// plus a monthly-term top-up of the same SKU.
func (g *gen) monthlyAndAnnual(t *Tenant, consumed map[string]int) {
	main := &t.Subscriptions[0]
	p, _ := product(main.SkuID)
	main.TermDuration, main.BillingCycle = "P1Y", "annual"
	main.OfferID = p.OfferProduct + ":0001:" + availability(p.OfferProduct, "P1Y", "annual", false)
	next := termEnd(main.CreatedAt, "P1Y", g.base)
	main.CommitmentEndAt, main.NextLifecycleAt = next.AddDate(0, 0, -1), next
	extra := g.between(2, 6)
	g.sub(t, main.SkuID, extra, subOpts{term: "P1M", billing: "monthly", ageDays: g.between(10, 60)})
	consumed[t.Subscriptions[0].SkuID] += extra - 1
}

// severalPerSKU: three subscriptions of Business Basic (or the tenant's
// other SKU) bought at different times on different terms.
func (g *gen) severalPerSKU(t *Tenant, consumed map[string]int) {
	sku := lacking(t, SKUBusinessBasic, SKUExchangePlan1)
	a, b, c := g.between(3, 10), g.between(2, 8), g.between(1, 5)
	g.sub(t, sku, a, subOpts{term: "P1Y", billing: "annual", ageDays: g.between(300, 700)})
	g.sub(t, sku, b, subOpts{term: "P1Y", billing: "monthly", ageDays: g.between(100, 299)})
	g.sub(t, sku, c, subOpts{term: "P1M", billing: "monthly", ageDays: g.between(5, 90)})
	consumed[sku] = a + b + c - g.r.IntN(2)
}

// trial: a partner-provisioned 30-day trial.
func (g *gen) trial(t *Tenant, consumed map[string]int) {
	sku := lacking(t, SKUM365E3, SKUPowerBIPro, SKUBusinessStandard)
	g.sub(t, sku, 25, subOpts{trial: true, term: "P1M", billing: "none", ageDays: g.between(3, 20)})
	s := &t.Subscriptions[len(t.Subscriptions)-1]
	s.NextLifecycleAt = time.Date(s.CreatedAt.Year(), s.CreatedAt.Month(), s.CreatedAt.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 30)
	s.CommitmentEndAt = s.NextLifecycleAt.AddDate(0, 0, -1)
	consumed[sku] = g.between(1, 5)
}

// suspended: a SKU whose only subscription the partner suspended.
func (g *gen) suspended(t *Tenant, consumed map[string]int) {
	sku := lacking(t, SKUPowerBIPro, SKUExchangePlan1, SKUBusinessStandard)
	g.sub(t, sku, g.between(3, 10), subOpts{status: "Suspended"})
	consumed[sku] = 0
}

// warning: one of two subscriptions of a SKU expired without renewal and is
// in its grace period; the other is active.
func (g *gen) warning(t *Tenant, consumed map[string]int) {
	sku := lacking(t, SKUExchangePlan1, SKUPowerBIPro, SKUBusinessBasic)
	active := g.between(4, 12)
	g.sub(t, sku, active, subOpts{})
	g.sub(t, sku, g.between(2, 5), subOpts{status: "Warning", term: "P1Y", billing: "monthly"})
	consumed[sku] = active - g.r.IntN(2)
}

// lockedOut: a cancelled subscription whose units are locked out.
func (g *gen) lockedOut(t *Tenant, consumed map[string]int) {
	sku := lacking(t, SKUBusinessStandard, SKUO365E3, SKUPowerBIPro)
	g.sub(t, sku, g.between(2, 6), subOpts{status: "LockedOut"})
	consumed[sku] = 0
}

// azurePlan: a Partner Center subscription Graph does not list.
func (g *gen) azurePlan(t *Tenant, _ map[string]int) {
	if !t.Has(RelCSP) {
		return
	}
	s := Subscription{
		CommerceSubscriptionID: g.guid(),
		ProductName:            "Azure plan",
		Quantity:               1,
		Status:                 "Enabled",
		PartnerCenterStatus:    "active",
		CreatedAt:              g.base.AddDate(0, 0, -g.between(100, 800)),
		BillingCycle:           "monthly",
		CommitmentEndAt:        time.Date(9999, time.December, 14, 0, 0, 0, 0, time.UTC),
		OfferID:                "AZUREPLANSIM:0001:AZUREPLANSIM",
		OfferName:              "Azure plan",
		OrderID:                fmt.Sprintf("%012x", g.r.Uint64()&0xffffffffffff),
		UnitType:               "Usage-based",
		BillingType:            "usage",
		OwnerTenantID:          g.partner,
		InPartnerCenter:        true,
	}
	t.Subscriptions = append(t.Subscriptions, s)
}

func (g *gen) teamsExploratory(t *Tenant, consumed map[string]int) { g.teams(t, consumed) }

// overAssigned: more licences assigned than enabled (Graph allows it
// briefly after a reduction).
func (g *gen) overAssigned(t *Tenant, consumed map[string]int) {
	for i := range t.SKUs {
		s := &t.SKUs[i]
		if s.CapabilityStatus == "Enabled" && s.SkuID != SKUTeamsExploratory {
			s.Consumed = s.Enabled + g.between(1, 3)
			consumed[s.SkuID] = s.Consumed
			return
		}
	}
}

// users sets the user counts from the licences: every licensed user holds at
// least one SKU, so there are at least as many as the most consumed SKU.
func (g *gen) users(t *Tenant) {
	most := 0
	for _, s := range t.SKUs {
		if s.SkuID != SKUTeamsExploratory {
			most = max(most, s.Consumed)
		}
	}
	licensed := most + g.r.IntN(3)
	disabledLicensed := min(licensed, g.r.IntN(2))
	enabled := licensed - disabledLicensed + g.r.IntN(licensed/6+2)
	t.Users = UserCounts{
		Total:          enabled + disabledLicensed + g.r.IntN(3) + g.r.IntN(licensed/4+1),
		EnabledMembers: enabled,
		Licensed:       licensed,
	}
}
