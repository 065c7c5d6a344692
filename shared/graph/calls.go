package graph

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/contracts"
	"github.com/microsoftgraph/msgraph-sdk-go/directory"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/organization"
	"github.com/microsoftgraph/msgraph-sdk-go/subscribedskus"
	"github.com/microsoftgraph/msgraph-sdk-go/tenantrelationships"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// errNoBody is the cause when a success response had no body to parse.
var errNoBody = errors.New("the response has no body")

// page is what every Graph collection response has.
type page interface{ GetOdataNextLink() *string }

// collect walks a collection with an SDK request builder: first asks for
// the first page, next for the page at a next link (the builder's WithUrl),
// and each takes every page.
func collect[P page](ctx context.Context, c *Client, k *call, first func() (P, error), next func(link string) (P, error), each func(P)) (int, error) {
	return walk(ctx, c, k, func(link string) (*string, error) {
		var p P
		var err error
		if link == "" {
			p, err = first()
		} else {
			p, err = next(link)
		}
		if err != nil {
			return nil, err
		}
		if any(p) == nil {
			return nil, errNoBody
		}
		each(p)
		return p.GetOdataNextLink(), nil
	})
}

// DelegatedAdminCustomers lists the partner's GDAP customers
// (GET /tenantRelationships/delegatedAdminCustomers, in the partner's own
// tenant), following every page. A customer listed twice is returned once;
// one without a tenant id (a GUID) is skipped with a warning.
func (c *Client) DelegatedAdminCustomers(ctx context.Context) ([]Customer, error) {
	ctx, k := withCall(ctx, "delegatedAdminCustomers", "")
	b := tenantrelationships.NewDelegatedAdminCustomersRequestBuilderInternal(c.pathParams(), c.adapter)
	top := c.pageSize
	cfg := &tenantrelationships.DelegatedAdminCustomersRequestBuilderGetRequestConfiguration{
		QueryParameters: &tenantrelationships.DelegatedAdminCustomersRequestBuilderGetQueryParameters{
			Top:    &top,
			Select: []string{"id", "tenantId", "displayName"},
		},
	}
	var out []Customer
	seen := make(map[string]bool)
	skipped := 0
	pages, err := collect(ctx, c, k,
		func() (models.DelegatedAdminCustomerCollectionResponseable, error) { return b.Get(ctx, cfg) },
		func(link string) (models.DelegatedAdminCustomerCollectionResponseable, error) {
			return b.WithUrl(link).Get(ctx, nil)
		},
		func(p models.DelegatedAdminCustomerCollectionResponseable) {
			for _, v := range p.GetValue() {
				if v == nil {
					continue
				}
				id := tenantID(str(v.GetTenantId()))
				if id == "" {
					// The docs show id equal to tenantId.
					id = tenantID(str(v.GetId()))
				}
				if id == "" {
					skipped++
					continue
				}
				if seen[id] {
					continue
				}
				seen[id] = true
				out = append(out, Customer{
					TenantID:     id,
					DisplayName:  clean(str(v.GetDisplayName()), "", 256),
					Relationship: seatsync.RelationshipGDAP,
				})
			}
		})
	if err != nil {
		return nil, err
	}
	if skipped > 0 {
		c.log.WarnContext(ctx, "graph: GDAP customers without a tenant id skipped", "skipped", skipped)
	}
	c.log.DebugContext(ctx, "graph: listed GDAP customers", "pages", pages, "customers", len(out))
	return out, nil
}

// Contracts lists the partner's DAP customers (GET /contracts, in the
// partner's own tenant), following every page. A customer listed twice is
// returned once; one without a customer id is skipped with a warning. The
// SDK types customerId as a UUID, so a page holding a customerId that is not
// a GUID fails the whole call as unusable (Graph documents it as a GUID).
func (c *Client) Contracts(ctx context.Context) ([]Customer, error) {
	ctx, k := withCall(ctx, "contracts", "")
	b := contracts.NewContractsRequestBuilderInternal(c.pathParams(), c.adapter)
	cfg := &contracts.ContractsRequestBuilderGetRequestConfiguration{
		QueryParameters: &contracts.ContractsRequestBuilderGetQueryParameters{
			// $select lowers the call's throttling cost by one.
			Select: []string{"id", "customerId", "defaultDomainName", "displayName", "contractType"},
		},
	}
	var out []Customer
	seen := make(map[string]bool)
	skipped := 0
	pages, err := collect(ctx, c, k,
		func() (models.ContractCollectionResponseable, error) { return b.Get(ctx, cfg) },
		func(link string) (models.ContractCollectionResponseable, error) { return b.WithUrl(link).Get(ctx, nil) },
		func(p models.ContractCollectionResponseable) {
			for _, v := range p.GetValue() {
				if v == nil {
					continue
				}
				id := ""
				if cid := v.GetCustomerId(); cid != nil {
					id = tenantID(cid.String())
				}
				if id == "" {
					skipped++
					continue
				}
				if seen[id] {
					continue
				}
				seen[id] = true
				out = append(out, Customer{
					TenantID:      id,
					DisplayName:   clean(str(v.GetDisplayName()), "", 256),
					DefaultDomain: clean(str(v.GetDefaultDomainName()), "", 256),
					Relationship:  seatsync.RelationshipDAP,
					ContractType:  clean(str(v.GetContractType()), "", 64),
				})
			}
		})
	if err != nil {
		return nil, err
	}
	if skipped > 0 {
		c.log.WarnContext(ctx, "graph: DAP contracts without a customer id skipped", "skipped", skipped)
	}
	c.log.DebugContext(ctx, "graph: listed DAP contracts", "pages", pages, "customers", len(out))
	return out, nil
}

// SubscribedSkus lists the SKUs the customer tenant tenantID has subscribed
// to (GET /subscribedSkus, with a token for that tenant). Graph documents
// no paging for it; a next link is followed all the same.
func (c *Client) SubscribedSkus(ctx context.Context, tenantID string) ([]SubscribedSku, error) {
	tenant, err := tenantArg("subscribedSkus", tenantID)
	if err != nil {
		return nil, err
	}
	ctx, k := withCall(ctx, "subscribedSkus", tenant)
	b := subscribedskus.NewSubscribedSkusRequestBuilderInternal(c.pathParams(), c.adapter)
	var out []SubscribedSku
	_, err = collect(ctx, c, k,
		func() (models.SubscribedSkuCollectionResponseable, error) { return b.Get(ctx, nil) },
		func(link string) (models.SubscribedSkuCollectionResponseable, error) {
			return b.WithUrl(link).Get(ctx, nil)
		},
		func(p models.SubscribedSkuCollectionResponseable) {
			for _, v := range p.GetValue() {
				if v != nil {
					out = append(out, subscribedSku(v))
				}
			}
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func subscribedSku(v models.SubscribedSkuable) SubscribedSku {
	s := SubscribedSku{
		ID:               str(v.GetId()),
		AccountID:        str(v.GetAccountId()),
		AccountName:      str(v.GetAccountName()),
		SkuPartNumber:    str(v.GetSkuPartNumber()),
		AppliesTo:        str(v.GetAppliesTo()),
		CapabilityStatus: str(v.GetCapabilityStatus()),
		ConsumedUnits:    num(v.GetConsumedUnits()),
		SubscriptionIDs:  v.GetSubscriptionIds(),
	}
	if id := v.GetSkuId(); id != nil {
		s.SkuID = strings.ToLower(id.String())
	}
	if u := v.GetPrepaidUnits(); u != nil {
		s.PrepaidUnits = LicenseUnits{
			Enabled:   num(u.GetEnabled()),
			Suspended: num(u.GetSuspended()),
			Warning:   num(u.GetWarning()),
			LockedOut: num(u.GetLockedOut()),
		}
	}
	return s
}

// DirectorySubscriptions lists the subscriptions in the customer tenant
// tenantID's directory (GET /directory/subscriptions, with a token for that
// tenant), following every page.
func (c *Client) DirectorySubscriptions(ctx context.Context, tenantID string) ([]CompanySubscription, error) {
	tenant, err := tenantArg("directory/subscriptions", tenantID)
	if err != nil {
		return nil, err
	}
	ctx, k := withCall(ctx, "directory/subscriptions", tenant)
	b := directory.NewSubscriptionsRequestBuilderInternal(c.pathParams(), c.adapter)
	var out []CompanySubscription
	_, err = collect(ctx, c, k,
		func() (models.CompanySubscriptionCollectionResponseable, error) { return b.Get(ctx, nil) },
		func(link string) (models.CompanySubscriptionCollectionResponseable, error) {
			return b.WithUrl(link).Get(ctx, nil)
		},
		func(p models.CompanySubscriptionCollectionResponseable) {
			for _, v := range p.GetValue() {
				if v == nil {
					continue
				}
				out = append(out, CompanySubscription{
					ID:                     str(v.GetId()),
					CommerceSubscriptionID: str(v.GetCommerceSubscriptionId()),
					SkuID:                  strings.ToLower(str(v.GetSkuId())),
					SkuPartNumber:          str(v.GetSkuPartNumber()),
					Status:                 str(v.GetStatus()),
					TotalLicenses:          num(v.GetTotalLicenses()),
					IsTrial:                flag(v.GetIsTrial()),
					CreatedDateTime:        when(v.GetCreatedDateTime()),
					NextLifecycleDateTime:  when(v.GetNextLifecycleDateTime()),
					OwnerID:                str(v.GetOwnerId()),
					OwnerTenantID:          strings.ToLower(str(v.GetOwnerTenantId())),
					OwnerType:              str(v.GetOwnerType()),
				})
			}
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Organization reads the customer tenant tenantID's organization object
// (GET /organization with $select=id,displayName,verifiedDomains, which is
// also all that the least privileged permission may read).
func (c *Client) Organization(ctx context.Context, tenantID string) (Organization, error) {
	tenant, err := tenantArg("organization", tenantID)
	if err != nil {
		return Organization{}, err
	}
	ctx, k := withCall(ctx, "organization", tenant)
	b := organization.NewOrganizationRequestBuilderInternal(c.pathParams(), c.adapter)
	resp, err := b.Get(ctx, &organization.OrganizationRequestBuilderGetRequestConfiguration{
		QueryParameters: &organization.OrganizationRequestBuilderGetQueryParameters{
			Select: []string{"id", "displayName", "verifiedDomains"},
		},
	})
	if err != nil {
		return Organization{}, c.fail(ctx, k, err)
	}
	if resp == nil {
		return Organization{}, c.fail(ctx, k, errNoBody)
	}
	// A tenant has exactly one organization; the list has no next page.
	var org models.Organizationable
	for _, v := range resp.GetValue() {
		if v != nil {
			org = v
			break
		}
	}
	if org == nil {
		return Organization{}, c.fail(ctx, k, errors.New("the organization list is empty"))
	}
	out := Organization{
		ID:          strings.ToLower(str(org.GetId())),
		DisplayName: clean(str(org.GetDisplayName()), "", 256),
	}
	first := ""
	for _, d := range org.GetVerifiedDomains() {
		if d == nil {
			continue
		}
		name := strings.ToLower(clean(str(d.GetName()), "", 256))
		if name == "" {
			continue
		}
		out.VerifiedDomains = append(out.VerifiedDomains, name)
		if first == "" {
			first = name
		}
		if flag(d.GetIsDefault()) && out.DefaultDomain == "" {
			out.DefaultDomain = name
		}
		if flag(d.GetIsInitial()) && out.InitialDomain == "" {
			out.InitialDomain = name
		}
	}
	if out.DefaultDomain == "" {
		out.DefaultDomain = out.InitialDomain
	}
	if out.DefaultDomain == "" {
		out.DefaultDomain = first
	}
	return out, nil
}

// Filters of UserCounts. The assignedLicenses filter is an advanced query:
// it needs ConsistencyLevel: eventual and $count=true.
const (
	filterLicensed       = "assignedLicenses/$count ne 0"
	filterEnabledMembers = "accountEnabled eq true and userType eq 'Member'"
)

// UserCounts counts the customer tenant tenantID's licensed users and
// enabled member users (GET /users/$count with a $filter, $count=true and
// ConsistencyLevel: eventual). The counts are eventually consistent: a user
// changed in the last minutes may not be counted yet.
//
// The answer is text/plain. These requests are plain net/http rather than
// kiota's SendPrimitive, whose text parser does not trim a byte-order mark
// or white space; they go through the same http.Client (so the same retry
// middleware and *Error) with a token from the same provider.
func (c *Client) UserCounts(ctx context.Context, tenantID string) (UserCounts, error) {
	tenant, err := tenantArg("user counts", tenantID)
	if err != nil {
		return UserCounts{}, err
	}
	ctx, k := withCall(ctx, "users/$count", tenant)
	licensed, err := c.count(ctx, k, filterLicensed)
	if err != nil {
		return UserCounts{}, err
	}
	enabled, err := c.count(ctx, k, filterEnabledMembers)
	if err != nil {
		return UserCounts{}, err
	}
	return UserCounts{LicensedUsers: licensed, EnabledMembers: enabled}, nil
}

// count GETs /users/$count with filter.
func (c *Client) count(ctx context.Context, k *call, filter string) (int, error) {
	// Spaces as %20: "+" means a space only in form encoding.
	q := "$count=true&$filter=" + strings.ReplaceAll(url.QueryEscape(filter), "+", "%20")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseStr+"/users/$count?"+q, nil)
	if err != nil {
		return 0, c.fail(ctx, k, err)
	}
	tok, err := c.tokens.GetAuthorizationToken(ctx, req.URL, nil)
	if err != nil {
		return 0, c.fail(ctx, k, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("ConsistencyLevel", "eventual")
	req.Header.Set("Accept", "text/plain")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, c.fail(ctx, k, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return 0, c.fail(ctx, k, err)
	}
	s := strings.TrimSpace(strings.TrimPrefix(string(body), "\ufeff"))
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		e := unusable(resp.StatusCode, k.tenant, "the count is not a number", nil)
		e.RequestID = clean(resp.Header.Get("request-id"), tok, 100)
		e.ClientRequestID = clean(req.Header.Get("client-request-id"), tok, 100)
		return 0, e
	}
	return n, nil
}
