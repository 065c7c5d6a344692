package mscloudsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// Which tenant's token a Graph endpoint wants.
type tokenScope int

const (
	forAny tokenScope = iota
	forPartner
	forCustomer
)

type graphEndpoint struct {
	path   string // after /v1.0, as documented
	scope  tokenScope
	body   bodyKind
	serve  func(s *Sim, w http.ResponseWriter, r *http.Request, g accessGrant, t *Tenant)
	params []string // the $-query options it takes
}

var graphEndpoints = []graphEndpoint{
	{path: "/subscribedSkus", scope: forCustomer, serve: (*Sim).subscribedSkus, params: []string{"$select"}},
	{path: "/directory/subscriptions", scope: forCustomer, serve: (*Sim).directorySubscriptions, params: []string{"$select", "$top", "$skiptoken", "$count"}},
	{path: "/contracts", scope: forPartner, serve: (*Sim).contracts, params: []string{"$select", "$top", "$skiptoken", "$count"}},
	{path: "/tenantRelationships/delegatedAdminCustomers", scope: forPartner, serve: (*Sim).delegatedAdminCustomers, params: []string{"$select", "$top", "$skiptoken", "$count"}},
	{path: "/organization", scope: forAny, serve: (*Sim).organization, params: []string{"$select"}},
	{path: "/users/$count", scope: forCustomer, body: bodyText, serve: (*Sim).userCount, params: []string{"$filter", "$count"}},
}

// graphContentType is what Graph sends with JSON.
const graphContentType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

// GraphHandler serves Microsoft Graph.
func (s *Sim) GraphHandler() http.Handler { return s.handler("graph", s.graphRoute) }

func (s *Sim) graphRoute(r *http.Request) route {
	path := r.URL.Path
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	tenant := ""
	if g, _, ok := s.bearer(r); ok {
		tenant = g.tenantID
	}
	for _, ep := range graphEndpoints {
		if !strings.EqualFold(path, "/v1.0"+ep.path) {
			continue
		}
		return route{template: r.Method + " /v1.0" + ep.path, tenant: tenant, body: ep.body, serve: func(w http.ResponseWriter, r *http.Request) {
			s.graphServe(w, r, ep)
		}}
	}
	return route{template: r.Method + " (unknown)", tenant: tenant, serve: func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(path, "/v1.0/")
		if !ok {
			s.graphError(w, r, http.StatusNotFound, "BadRequest", "Invalid version: the simulator serves /v1.0 only.")
			return
		}
		seg, _, _ := strings.Cut(rest, "/")
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("No resource for the segment '%s' in the simulator.", seg))
	}}
}

func (s *Sim) graphServe(w http.ResponseWriter, r *http.Request, ep graphEndpoint) {
	if r.Method != http.MethodGet {
		s.graphError(w, r, http.StatusMethodNotAllowed, "Request_BadRequest", "The specified HTTP method is not allowed for the request target.")
		return
	}
	g, present, ok := s.bearer(r)
	unauthorized := func(msg string) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		s.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
	}
	switch {
	case present == "":
		unauthorized("Access token is empty.")
		return
	case !ok:
		unauthorized("Access token validation failure: the simulator did not issue this token.")
		return
	case g.resource != ResourceGraph:
		unauthorized("Access token validation failure. Invalid audience: the token is for " + g.resource + ".")
		return
	case !s.now().Before(g.expires):
		unauthorized("Lifetime validation failed, the token is expired.")
		return
	}
	partner := g.tenantID == s.opts.PartnerTenantID
	switch {
	case ep.scope == forCustomer && partner:
		unauthorized(fmt.Sprintf("Access token validation failure: the token was issued for the partner's own tenant %s, and %s is read in a customer tenant; "+
			"get the token from the customer's authority, {login}/{customerTenantId}/oauth2/v2.0/token (simulator check: Graph itself would answer with the partner tenant's data).",
			g.tenantID, ep.path))
		return
	case ep.scope == forPartner && !partner:
		unauthorized(fmt.Sprintf("Access token validation failure: the token was issued for customer tenant %s, and %s is read in the partner's tenant (simulator check).",
			g.tenantID, ep.path))
		return
	}
	if !s.graphParams(w, r, ep.params) {
		return
	}
	if wait, ok := s.takeBudget("graph", g.clientID, g.tenantID); !ok {
		s.throttled(w, r, "graph", retryAfter(wait))
		return
	}
	var t *Tenant
	if !partner {
		i, ok := s.tenantIndex(g.tenantID)
		if !ok {
			unauthorized("Access token validation failure: unknown tenant.")
			return
		}
		tc := s.tenantAt(i)
		t = &tc
		switch t.Failure {
		case FailureDeleted:
			s.graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound",
				fmt.Sprintf("Resource '%s' does not exist: the tenant was deleted.", t.TenantID))
			return
		case FailureNoRoles:
			s.graphError(w, r, http.StatusForbidden, "Authorization_RequestDenied",
				"Insufficient privileges to complete the operation: the partner's GDAP relationship grants no role that may read this.")
			return
		}
	}
	ep.serve(s, w, r, g, t)
}

// graphParams refuses $-query options the endpoint does not take, as Graph
// does; other parameters are ignored.
func (s *Sim) graphParams(w http.ResponseWriter, r *http.Request, allowed []string) bool {
	for k := range r.URL.Query() {
		if !strings.HasPrefix(k, "$") {
			continue
		}
		if !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, k) }) {
			s.graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery",
				fmt.Sprintf("The query option '%s' is not supported on this request.", k))
			return false
		}
	}
	return true
}

type graphErrorBody struct {
	Error graphErrorDetail `json:"error"`
}

type graphErrorDetail struct {
	Code       string          `json:"code"`
	Message    string          `json:"message"`
	InnerError graphInnerError `json:"innerError"`
}

type graphInnerError struct {
	Date            string `json:"date"`
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
}

// graphHeaders sets request-id and client-request-id and returns them.
func (s *Sim) graphHeaders(w http.ResponseWriter, r *http.Request) (string, string) {
	id := w.Header().Get("request-id")
	if id == "" {
		id = s.guid()
		w.Header().Set("request-id", id)
	}
	cid := r.Header.Get("client-request-id")
	if !seatsync.IsGUID(cid) {
		cid = id
	}
	w.Header().Set("client-request-id", cid)
	return id, cid
}

func (s *Sim) graphError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	id, cid := s.graphHeaders(w, r)
	body, _ := json.Marshal(graphErrorBody{Error: graphErrorDetail{Code: code, Message: msg, InnerError: graphInnerError{
		Date: s.now().UTC().Format("2006-01-02T15:04:05"), RequestID: id, ClientRequestID: cid}}})
	w.Header().Set("Content-Type", graphContentType)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Sim) graphJSON(w http.ResponseWriter, r *http.Request, v any) {
	s.graphHeaders(w, r)
	body, err := json.Marshal(v)
	if err != nil {
		s.graphError(w, r, http.StatusInternalServerError, "generalException", "mscloudsim: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", graphContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// graphCollection is a Graph collection page.
type graphCollection struct {
	Context  string `json:"@odata.context"`
	Count    *int   `json:"@odata.count,omitempty"`
	NextLink string `json:"@odata.nextLink,omitempty"`
	Value    any    `json:"value"`
}

// graphList answers one page of items, with an @odata.nextLink when more
// follow. list names the collection in the skip token, so a token works only
// for the list and tenant it came from.
func (s *Sim) graphList(w http.ResponseWriter, r *http.Request, g accessGrant, list, context string, items []any, maxTop int) {
	q := r.URL.Query()
	size := s.opts.GraphPageSize
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTop {
			s.graphError(w, r, http.StatusBadRequest, "Request_BadRequest",
				fmt.Sprintf("Invalid page size: $top must be a whole number from 1 to %d.", maxTop))
			return
		}
		size = min(size, n)
	}
	offset := 0
	if v := q.Get("$skiptoken"); v != "" {
		off, ok := s.decodeSkip(v, list, g.tenantID)
		if !ok || off > len(items) {
			s.graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "The $skiptoken is not valid for this request.")
			return
		}
		offset = off
	}
	end := min(offset+size, len(items))
	page, ok := s.project(w, r, items[offset:end])
	if !ok {
		return
	}
	body := graphCollection{Context: baseURL(r) + context, Value: page}
	if strings.EqualFold(q.Get("$count"), "true") {
		n := len(items)
		body.Count = &n
	}
	if end < len(items) {
		body.NextLink = nextLink(r, s.encodeSkip(end, list, g.tenantID))
	}
	s.graphJSON(w, r, body)
}

func (s *Sim) encodeSkip(offset int, list, tenant string) string {
	o := strconv.Itoa(offset)
	return base64.RawURLEncoding.EncodeToString([]byte(o + "~" + s.mac("skip", list, tenant, o)))
}

func (s *Sim) decodeSkip(tok, list, tenant string) (int, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	o, mac, ok := strings.Cut(string(raw), "~")
	if !ok || mac != s.mac("skip", list, tenant, o) {
		return 0, false
	}
	n, err := strconv.Atoi(o)
	return n, err == nil && n >= 0
}

// nextLink is the request's URL with its $skiptoken replaced by tok.
func nextLink(r *http.Request, tok string) string {
	var keep []string
	for _, p := range strings.Split(r.URL.RawQuery, "&") {
		if p == "" {
			continue
		}
		k, _, _ := strings.Cut(p, "=")
		if uk, err := url.QueryUnescape(k); err == nil && strings.EqualFold(uk, "$skiptoken") {
			continue
		}
		keep = append(keep, p)
	}
	keep = append(keep, "$skiptoken="+tok)
	return baseURL(r) + r.URL.EscapedPath() + "?" + strings.Join(keep, "&")
}

// project applies $select: each item keeps the selected properties and its
// @odata annotations (in sorted order, as a map marshals).
func (s *Sim) project(w http.ResponseWriter, r *http.Request, items []any) ([]any, bool) {
	sel := r.URL.Query().Get("$select")
	if sel == "" {
		return items, true
	}
	var fields []string
	for _, f := range strings.Split(sel, ",") {
		if f = strings.TrimSpace(f); f != "" {
			fields = append(fields, f)
		}
	}
	out := make([]any, 0, len(items))
	for _, it := range items {
		raw, _ := json.Marshal(it)
		var m map[string]json.RawMessage
		_ = json.Unmarshal(raw, &m)
		p := map[string]json.RawMessage{}
		for k, v := range m {
			if strings.HasPrefix(k, "@odata.") {
				p[k] = v
			}
		}
		for _, f := range fields {
			found := false
			for k, v := range m {
				if strings.EqualFold(k, f) {
					p[k], found = v, true
				}
			}
			if !found {
				s.graphError(w, r, http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Could not find a property named '%s' on this type.", f))
				return nil, false
			}
		}
		out = append(out, p)
	}
	return out, true
}

// The endpoints.

type graphServicePlan struct {
	ServicePlanID      string `json:"servicePlanId"`
	ServicePlanName    string `json:"servicePlanName"`
	ProvisioningStatus string `json:"provisioningStatus"`
	AppliesTo          string `json:"appliesTo"`
}

// The pointer and omitempty fields are absent in the older documented shape.
type graphPrepaidUnits struct {
	Enabled   int  `json:"enabled"`
	LockedOut *int `json:"lockedOut,omitempty"`
	Suspended int  `json:"suspended"`
	Warning   int  `json:"warning"`
}

type graphSubscribedSku struct {
	AccountName      string             `json:"accountName,omitempty"`
	AccountID        string             `json:"accountId,omitempty"`
	AppliesTo        string             `json:"appliesTo"`
	CapabilityStatus string             `json:"capabilityStatus"`
	ConsumedUnits    int                `json:"consumedUnits"`
	ID               string             `json:"id"`
	PrepaidUnits     graphPrepaidUnits  `json:"prepaidUnits"`
	ServicePlans     []graphServicePlan `json:"servicePlans"`
	SkuID            string             `json:"skuId"`
	SkuPartNumber    string             `json:"skuPartNumber"`
	SubscriptionIDs  []string           `json:"subscriptionIds,omitempty"`
}

func servicePlans(skuID, status string) []graphServicePlan {
	p, _ := product(skuID)
	prov := "Success"
	if status == "Suspended" || status == "LockedOut" {
		prov = "Disabled"
	}
	out := make([]graphServicePlan, 0, len(p.ServicePlans))
	for _, sp := range p.ServicePlans {
		out = append(out, graphServicePlan{ServicePlanID: sp.ID, ServicePlanName: sp.Name, ProvisioningStatus: prov, AppliesTo: sp.AppliesTo})
	}
	return out
}

func (s *Sim) subscribedSkus(w http.ResponseWriter, r *http.Request, _ accessGrant, t *Tenant) {
	items := make([]any, 0, len(t.SKUs))
	for _, sku := range t.SKUs {
		item := graphSubscribedSku{
			AppliesTo:        sku.AppliesTo,
			CapabilityStatus: sku.CapabilityStatus,
			ConsumedUnits:    sku.Consumed,
			ID:               t.TenantID + "_" + sku.SkuID,
			PrepaidUnits:     graphPrepaidUnits{Enabled: sku.Enabled, Suspended: sku.Suspended, Warning: sku.Warning},
			ServicePlans:     servicePlans(sku.SkuID, sku.CapabilityStatus),
			SkuID:            sku.SkuID,
			SkuPartNumber:    sku.SkuPartNumber,
		}
		if !t.OlderShape {
			item.AccountName, item.AccountID, item.SubscriptionIDs = t.DisplayName, t.AccountID, sku.SubscriptionIDs
			item.PrepaidUnits.LockedOut = &sku.LockedOut
		}
		items = append(items, item)
	}
	page, ok := s.project(w, r, items)
	if !ok {
		return
	}
	s.graphJSON(w, r, graphCollection{Context: baseURL(r) + "/v1.0/$metadata#subscribedSkus", Value: page})
}

type graphCompanySubscription struct {
	CreatedDateTime        string             `json:"createdDateTime"`
	CommerceSubscriptionID string             `json:"commerceSubscriptionId"`
	ID                     string             `json:"id"`
	IsTrial                bool               `json:"isTrial"`
	NextLifecycleDateTime  string             `json:"nextLifecycleDateTime"`
	ServiceStatus          []graphServicePlan `json:"serviceStatus"`
	SkuID                  string             `json:"skuId"`
	SkuPartNumber          string             `json:"skuPartNumber"`
	Status                 string             `json:"status"`
	TotalLicenses          int                `json:"totalLicenses"`
	OwnerID                *string            `json:"ownerId"`
	OwnerTenantID          *string            `json:"ownerTenantId"`
	OwnerType              *string            `json:"ownerType"`
}

func graphTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func (s *Sim) directorySubscriptions(w http.ResponseWriter, r *http.Request, g accessGrant, t *Tenant) {
	var items []any
	for _, sub := range t.Subscriptions {
		if !sub.InGraph {
			continue
		}
		item := graphCompanySubscription{
			CreatedDateTime:        graphTime(sub.CreatedAt),
			CommerceSubscriptionID: sub.CommerceSubscriptionID,
			ID:                     sub.ID,
			IsTrial:                sub.IsTrial,
			NextLifecycleDateTime:  graphTime(sub.NextLifecycleAt),
			ServiceStatus:          servicePlans(sub.SkuID, sub.Status),
			SkuID:                  sub.SkuID,
			SkuPartNumber:          sub.SkuPartNumber,
			Status:                 sub.Status,
			TotalLicenses:          sub.Quantity,
		}
		if sub.OwnerTenantID != "" {
			owner, kind := sub.OwnerTenantID, "Company"
			item.OwnerID, item.OwnerTenantID, item.OwnerType = &owner, &owner, &kind
		}
		items = append(items, item)
	}
	if items == nil {
		items = []any{}
	}
	s.graphList(w, r, g, "directory/subscriptions", "/v1.0/$metadata#directory/subscriptions", items, 999)
}

type graphContract struct {
	ContractType      string `json:"contractType"`
	CustomerID        string `json:"customerId"`
	DefaultDomainName string `json:"defaultDomainName"`
	DisplayName       string `json:"displayName"`
	ID                string `json:"id"`
}

func (s *Sim) contracts(w http.ResponseWriter, r *http.Request, g accessGrant, _ *Tenant) {
	items := []any{}
	for _, t := range s.tenantsWith(RelDAP) {
		items = append(items, graphContract{ContractType: "ResellerPartner", CustomerID: t.TenantID,
			DefaultDomainName: t.InitialDomain, DisplayName: t.DisplayName, ID: nameGUID("contract", t.TenantID)})
	}
	s.graphList(w, r, g, "contracts", "/v1.0/$metadata#contracts", items, 999)
}

type graphDelegatedAdminCustomer struct {
	Type        string `json:"@odata.type"`
	ETag        string `json:"@odata.etag"`
	ID          string `json:"id"`
	TenantID    string `json:"tenantId"`
	DisplayName string `json:"displayName"`
}

func (s *Sim) delegatedAdminCustomers(w http.ResponseWriter, r *http.Request, g accessGrant, _ *Tenant) {
	items := []any{}
	for _, t := range s.tenantsWith(RelGDAP) {
		etag := base64.StdEncoding.EncodeToString([]byte(`"` + nameGUID("etag", t.TenantID) + `"`))
		items = append(items, graphDelegatedAdminCustomer{Type: "#microsoft.graph.delegatedAdminCustomer", ETag: `W/"` + etag + `"`,
			ID: t.TenantID, TenantID: t.TenantID, DisplayName: t.DisplayName})
	}
	s.graphList(w, r, g, "delegatedAdminCustomers", "/v1.0/tenantRelationships/$metadata#delegatedAdminCustomers", items, 300)
}

type graphVerifiedDomain struct {
	Capabilities string `json:"capabilities"`
	IsDefault    bool   `json:"isDefault"`
	IsInitial    bool   `json:"isInitial"`
	Name         string `json:"name"`
	Type         string `json:"type"`
}

type graphOrganization struct {
	ID                         string                `json:"id"`
	DeletedDateTime            *string               `json:"deletedDateTime"`
	BusinessPhones             []string              `json:"businessPhones"`
	City                       *string               `json:"city"`
	Country                    *string               `json:"country"`
	CountryLetterCode          string                `json:"countryLetterCode"`
	CreatedDateTime            string                `json:"createdDateTime"`
	DisplayName                string                `json:"displayName"`
	PartnerTenantType          *string               `json:"partnerTenantType"`
	PreferredLanguage          string                `json:"preferredLanguage"`
	TechnicalNotificationMails []string              `json:"technicalNotificationMails"`
	TenantType                 string                `json:"tenantType"`
	VerifiedDomains            []graphVerifiedDomain `json:"verifiedDomains"`
}

func (s *Sim) organization(w http.ResponseWriter, r *http.Request, _ accessGrant, t *Tenant) {
	var org graphOrganization
	if t == nil {
		p := s.estate.Partner
		kind := "ResellerPartnerDelegatedAdmin"
		org = graphOrganization{ID: p.TenantID, CountryLetterCode: "US", CreatedDateTime: graphTime(s.estate.BaseDate.AddDate(-6, 0, 0)),
			DisplayName: p.DisplayName, PartnerTenantType: &kind, TechnicalNotificationMails: []string{p.User.UserPrincipalName},
			VerifiedDomains: []graphVerifiedDomain{{Capabilities: "Email, OfficeCommunicationsOnline", IsDefault: true, IsInitial: true, Name: p.DefaultDomain, Type: "Managed"}}}
	} else {
		org = graphOrganization{ID: t.TenantID, CountryLetterCode: t.CountryCode, CreatedDateTime: graphTime(t.CreatedAt),
			DisplayName: t.DisplayName, TechnicalNotificationMails: []string{"admin@" + t.DefaultDomain},
			VerifiedDomains: []graphVerifiedDomain{{Capabilities: "Email, OfficeCommunicationsOnline", IsDefault: t.DefaultDomain == t.InitialDomain,
				IsInitial: true, Name: t.InitialDomain, Type: "Managed"}}}
		if t.DefaultDomain != t.InitialDomain {
			org.VerifiedDomains = append(org.VerifiedDomains, graphVerifiedDomain{Capabilities: "Email, OfficeCommunicationsOnline",
				IsDefault: true, Name: t.DefaultDomain, Type: "Managed"})
		}
	}
	org.BusinessPhones = []string{}
	org.PreferredLanguage = "en"
	org.TenantType = "AAD"
	page, ok := s.project(w, r, []any{org})
	if !ok {
		return
	}
	s.graphJSON(w, r, graphCollection{Context: baseURL(r) + "/v1.0/$metadata#organization", Value: page})
}

func (s *Sim) userCount(w http.ResponseWriter, r *http.Request, _ accessGrant, t *Tenant) {
	if !strings.EqualFold(strings.TrimSpace(r.Header.Get("ConsistencyLevel")), "eventual") {
		s.graphError(w, r, http.StatusBadRequest, "Request_BadRequest",
			"$count on directory objects is an advanced query: send the header ConsistencyLevel: eventual.")
		return
	}
	var n int
	switch f := strings.Join(strings.Fields(strings.ToLower(r.URL.Query().Get("$filter"))), " "); f {
	case "":
		n = t.Users.Total
	case "assignedlicenses/$count ne 0":
		n = t.Users.Licensed
	case "accountenabled eq true and usertype eq 'member'", "usertype eq 'member' and accountenabled eq true":
		n = t.Users.EnabledMembers
	default:
		s.graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery",
			fmt.Sprintf("The simulator does not support the filter '%s' on users/$count.", r.URL.Query().Get("$filter")))
		return
	}
	s.graphHeaders(w, r)
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(strconv.Itoa(n)))
}
