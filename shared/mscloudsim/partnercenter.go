package mscloudsim

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// PartnerCenterHandler serves Partner Center: GET /v1/customers and
// GET /v1/customers/{id}/subscriptions.
func (s *Sim) PartnerCenterHandler() http.Handler { return s.handler("partnercenter", s.pcRoute) }

func (s *Sim) pcRoute(r *http.Request) route {
	// Split the escaped path, so that an escaped slash stays inside its
	// segment (and fails the GUID check) instead of adding segments.
	parts := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	for i, p := range parts {
		if u, err := url.PathUnescape(p); err == nil {
			parts[i] = u
		}
	}
	if len(parts) >= 2 && strings.EqualFold(parts[0], "v1") && strings.EqualFold(parts[1], "customers") {
		switch {
		case len(parts) == 2:
			return route{template: r.Method + " /v1/customers", tenant: s.opts.PartnerTenantID, serve: func(w http.ResponseWriter, r *http.Request) {
				s.pcServe(w, r, s.opts.PartnerTenantID, s.customers)
			}}
		case len(parts) == 4 && strings.EqualFold(parts[3], "subscriptions"):
			id := strings.ToLower(parts[2])
			tenant := ""
			if seatsync.IsGUID(id) {
				tenant = id
			}
			return route{template: r.Method + " /v1/customers/{id}/subscriptions", tenant: tenant, serve: func(w http.ResponseWriter, r *http.Request) {
				s.pcServe(w, r, tenant, func(w http.ResponseWriter, r *http.Request) { s.subscriptions(w, r, id) })
			}}
		}
	}
	return route{template: r.Method + " (unknown)", serve: func(w http.ResponseWriter, r *http.Request) {
		s.pcError(w, r, http.StatusNotFound, "The simulator has no Partner Center resource at "+r.URL.Path+".")
	}}
}

// pcError is Partner Center's error shape.
type pcError struct {
	Code        int      `json:"code"`
	Description string   `json:"description"`
	Data        []string `json:"data"`
	Source      string   `json:"source"`
}

// pcThrottle is Partner Center's 429 shape.
type pcThrottle struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
}

func (s *Sim) pcHeaders(w http.ResponseWriter, r *http.Request) {
	for _, h := range []string{"MS-RequestId", "MS-CorrelationId"} {
		v := r.Header.Get(h)
		if !seatsync.IsGUID(v) {
			v = s.guid()
		}
		w.Header().Set(h, v)
	}
}

func (s *Sim) pcError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.pcHeaders(w, r)
	writeJSON(w, status, pcError{Code: status, Description: msg, Data: []string{}, Source: "mscloudsim"})
}

// pcServe checks the token (Partner Center's resource, the partner's
// tenant) and the budget, then serves.
func (s *Sim) pcServe(w http.ResponseWriter, r *http.Request, budgetTenant string, serve http.HandlerFunc) {
	if r.Method != http.MethodGet {
		s.pcError(w, r, http.StatusMethodNotAllowed, "The simulator serves GET only.")
		return
	}
	g, present, ok := s.bearer(r)
	unauthorized := func(msg string) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		s.pcError(w, r, http.StatusUnauthorized, msg)
	}
	switch {
	case present == "":
		unauthorized("Authorization is required: send a bearer token for " + ResourcePartnerCenter + ".")
		return
	case !ok:
		unauthorized("The bearer token is not one the simulator issued.")
		return
	case g.resource != ResourcePartnerCenter:
		unauthorized("The bearer token's audience is " + g.resource + ", not Partner Center.")
		return
	case !s.now().Before(g.expires):
		unauthorized("The bearer token has expired.")
		return
	case g.tenantID != s.opts.PartnerTenantID:
		unauthorized("The bearer token was issued for tenant " + g.tenantID + "; Partner Center needs a token of the partner's own tenant.")
		return
	}
	if budgetTenant == "" {
		budgetTenant = g.tenantID
	}
	if wait, ok := s.takeBudget("partnercenter", g.clientID, budgetTenant); !ok {
		s.throttled(w, r, "partnercenter", retryAfter(wait))
		return
	}
	s.pcHeaders(w, r)
	serve(w, r)
}

type pcAttributes struct {
	ObjectType string `json:"objectType"`
}

type pcHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type pcLink struct {
	URI     string     `json:"uri"`
	Method  string     `json:"method"`
	Headers []pcHeader `json:"headers"`
}

type pcCompanyProfile struct {
	TenantID    string       `json:"tenantId"`
	Domain      string       `json:"domain"`
	CompanyName string       `json:"companyName"`
	Attributes  pcAttributes `json:"attributes"`
}

type pcCustomer struct {
	ID                    string           `json:"id"`
	CompanyProfile        pcCompanyProfile `json:"companyProfile"`
	RelationshipToPartner string           `json:"relationshipToPartner"`
	AllowDelegatedAccess  bool             `json:"allowDelegatedAccess"`
	Attributes            pcAttributes     `json:"attributes"`
}

type pcCustomersPage struct {
	TotalCount int          `json:"totalCount"`
	Items      []pcCustomer `json:"items"`
	Links      struct {
		Self pcLink  `json:"self"`
		Next *pcLink `json:"next,omitempty"`
	} `json:"links"`
	ContinuationToken string       `json:"continuationToken,omitempty"`
	Attributes        pcAttributes `json:"attributes"`
}

func (s *Sim) customers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := s.opts.PartnerCenterPageSize
	if v := q.Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.pcError(w, r, http.StatusBadRequest, "The size parameter must be a positive whole number.")
			return
		}
		size = min(size, n)
	}
	offset := 0
	if strings.EqualFold(q.Get("seekOperation"), "Next") {
		tok := r.Header.Get("MS-ContinuationToken")
		if tok == "" {
			s.pcError(w, r, http.StatusBadRequest, "seekOperation=Next needs the MS-ContinuationToken header.")
			return
		}
		off, sz, ok := s.decodeContinuation(tok)
		if !ok {
			s.pcError(w, r, http.StatusBadRequest, "The continuation token is not valid.")
			return
		}
		offset = off
		if q.Get("size") == "" {
			size = sz
		}
	}
	all := s.tenantsWith(RelCSP)
	offset = min(offset, len(all))
	end := min(offset+size, len(all))
	page := pcCustomersPage{Items: []pcCustomer{}, Attributes: pcAttributes{ObjectType: "Collection"}}
	for _, t := range all[offset:end] {
		page.Items = append(page.Items, pcCustomer{
			ID: t.TenantID,
			CompanyProfile: pcCompanyProfile{TenantID: t.TenantID, Domain: t.InitialDomain, CompanyName: t.DisplayName,
				Attributes: pcAttributes{ObjectType: "CustomerCompanyProfile"}},
			RelationshipToPartner: "reseller",
			AllowDelegatedAccess:  t.Has(RelDAP),
			Attributes:            pcAttributes{ObjectType: "Customer"},
		})
	}
	page.TotalCount = len(page.Items)
	self := "/v1/customers?size=" + strconv.Itoa(size)
	if offset > 0 {
		self += "&seekOperation=Next"
	}
	page.Links.Self = pcLink{URI: self, Method: http.MethodGet, Headers: []pcHeader{}}
	if end < len(all) {
		tok := s.encodeContinuation(end, size)
		page.ContinuationToken = tok
		page.Links.Next = &pcLink{URI: "/v1/customers?size=" + strconv.Itoa(size) + "&seekOperation=Next", Method: http.MethodGet,
			Headers: []pcHeader{{Key: "MS-ContinuationToken", Value: tok}}}
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Sim) encodeContinuation(offset, size int) string {
	o, z := strconv.Itoa(offset), strconv.Itoa(size)
	return base64.RawURLEncoding.EncodeToString([]byte(o + "," + z + "," + s.mac("continuation", s.opts.PartnerTenantID, o, z)))
}

func (s *Sim) decodeContinuation(tok string) (int, int, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(tok))
	if err != nil {
		return 0, 0, false
	}
	parts := strings.SplitN(string(raw), ",", 3)
	if len(parts) != 3 || parts[2] != s.mac("continuation", s.opts.PartnerTenantID, parts[0], parts[1]) {
		return 0, 0, false
	}
	o, err1 := strconv.Atoi(parts[0])
	z, err2 := strconv.Atoi(parts[1])
	return o, z, err1 == nil && err2 == nil && o >= 0 && z > 0
}

type pcProductType struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

type pcSubscriptionLinks struct {
	Product      pcLink `json:"product"`
	SKU          pcLink `json:"sku"`
	Availability pcLink `json:"availability"`
	Self         pcLink `json:"self"`
}

type pcSubscription struct {
	ID                    string              `json:"id"`
	OfferID               string              `json:"offerId"`
	OfferName             string              `json:"offerName"`
	FriendlyName          string              `json:"friendlyName"`
	ProductType           pcProductType       `json:"productType"`
	Quantity              int                 `json:"quantity"`
	UnitType              string              `json:"unitType"`
	HasPurchasableAddons  bool                `json:"hasPurchasableAddons"`
	CreationDate          string              `json:"creationDate"`
	EffectiveStartDate    string              `json:"effectiveStartDate"`
	CommitmentEndDate     string              `json:"commitmentEndDate"`
	CommitmentEndDateTime string              `json:"commitmentEndDateTime,omitempty"`
	Status                string              `json:"status"`
	AutoRenewEnabled      bool                `json:"autoRenewEnabled"`
	IsTrial               bool                `json:"isTrial"`
	BillingType           string              `json:"billingType"`
	BillingCycle          string              `json:"billingCycle"`
	TermDuration          string              `json:"termDuration,omitempty"`
	RenewalTermDuration   string              `json:"renewalTermDuration"`
	IsMicrosoftProduct    bool                `json:"isMicrosoftProduct"`
	PartnerID             string              `json:"partnerId"`
	AttentionNeeded       bool                `json:"attentionNeeded"`
	ActionTaken           bool                `json:"actionTaken"`
	ContractType          string              `json:"contractType"`
	Links                 pcSubscriptionLinks `json:"links"`
	PublisherName         string              `json:"publisherName"`
	OrderID               string              `json:"orderId"`
	Attributes            pcAttributes        `json:"attributes"`
}

type pcSubscriptionsPage struct {
	TotalCount int              `json:"totalCount"`
	Items      []pcSubscription `json:"items"`
	Links      struct {
		Self pcLink `json:"self"`
	} `json:"links"`
	Attributes pcAttributes `json:"attributes"`
}

// dotnetTime formats t as Partner Center does, with seven fractional digits;
// the fraction is derived from salt so that it is stable but not zero.
func dotnetTime(t time.Time, salt string) string {
	sum := sha256.Sum256([]byte(salt))
	ticks := (int(sum[0])<<16 | int(sum[1])<<8 | int(sum[2])) % 10_000_000
	return t.UTC().Truncate(time.Second).Add(time.Duration(ticks) * 100).Format("2006-01-02T15:04:05.0000000Z")
}

func (s *Sim) subscriptions(w http.ResponseWriter, r *http.Request, id string) {
	if !seatsync.IsGUID(id) {
		s.pcError(w, r, http.StatusBadRequest, "The customer id must be the customer's tenant id (a GUID).")
		return
	}
	i, ok := s.tenantIndex(id)
	var t Tenant
	if ok {
		t = s.tenantAt(i)
	}
	if !ok || !t.Has(RelCSP) {
		s.pcError(w, r, http.StatusNotFound, "Customer "+id+" is not a customer of this partner.")
		return
	}
	page := pcSubscriptionsPage{Items: []pcSubscription{}, Attributes: pcAttributes{ObjectType: "Collection"}}
	page.Links.Self = pcLink{URI: "/customers/" + t.TenantID + "/subscriptions", Method: http.MethodGet, Headers: []pcHeader{}}
	for _, sub := range t.Subscriptions {
		if !sub.InPartnerCenter {
			continue
		}
		productID, rest, _ := strings.Cut(sub.OfferID, ":")
		skuPart, avail, _ := strings.Cut(rest, ":")
		item := pcSubscription{
			ID:                  sub.CommerceSubscriptionID,
			OfferID:             sub.OfferID,
			OfferName:           sub.OfferName,
			FriendlyName:        sub.OfferName,
			ProductType:         pcProductType{ID: "OnlineServicesNCE", DisplayName: "OnlineServicesNCE"},
			Quantity:            sub.Quantity,
			UnitType:            sub.UnitType,
			CreationDate:        dotnetTime(sub.CreatedAt, sub.CommerceSubscriptionID+"/created"),
			EffectiveStartDate:  dotnetTime(sub.CreatedAt.Add(-time.Second), sub.CommerceSubscriptionID+"/start"),
			CommitmentEndDate:   graphTime(sub.CommitmentEndAt),
			Status:              sub.PartnerCenterStatus,
			AutoRenewEnabled:    sub.AutoRenew,
			IsTrial:             sub.IsTrial,
			BillingType:         sub.BillingType,
			BillingCycle:        sub.BillingCycle,
			TermDuration:        sub.TermDuration,
			IsMicrosoftProduct:  true,
			ContractType:        "subscription",
			PublisherName:       "Microsoft Corporation",
			OrderID:             sub.OrderID,
			Attributes:          pcAttributes{ObjectType: "Subscription"},
			RenewalTermDuration: "",
		}
		if sub.TermDuration != "" {
			item.CommitmentEndDateTime = graphTime(sub.CommitmentEndAt.Add(24*time.Hour - time.Second))
		}
		if !sub.InGraph {
			item.ProductType = pcProductType{ID: "Azure", DisplayName: "Azure"}
		}
		item.Links = pcSubscriptionLinks{
			Product:      pcLink{URI: "/products/" + productID + "?country=" + t.CountryCode, Method: http.MethodGet, Headers: []pcHeader{}},
			SKU:          pcLink{URI: "/products/" + productID + "/skus/" + skuPart + "?country=" + t.CountryCode, Method: http.MethodGet, Headers: []pcHeader{}},
			Availability: pcLink{URI: fmt.Sprintf("/products/%s/skus/%s/availabilities/%s?country=%s", productID, skuPart, avail, t.CountryCode), Method: http.MethodGet, Headers: []pcHeader{}},
			Self:         pcLink{URI: "/customers/" + t.TenantID + "/subscriptions/" + sub.CommerceSubscriptionID, Method: http.MethodGet, Headers: []pcHeader{}},
		}
		page.Items = append(page.Items, item)
	}
	page.TotalCount = len(page.Items)
	writeJSON(w, http.StatusOK, page)
}
