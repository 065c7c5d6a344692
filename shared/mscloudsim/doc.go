// Package mscloudsim is a deterministic stand-in for the Microsoft cloud that
// seatsync talks to: the identity platform (authorize page, token endpoint),
// Microsoft Graph, Partner Center and the product-names CSV. Tests start it in
// process (the Handler methods with httptest, or Start on loopback ports) and
// `make run` starts it through its dev binary, tools/mscloudsim. It is a test
// and development tool: nothing under functions/ imports it, so it never ends
// up in the seatsync binary or the deployment zip.
//
// # Estate
//
// New generates an estate of Options.Tenants customer tenants from
// Options.Seed: names, domains, relationships (GDAP, DAP, Direct CSP), SKUs
// with prepaid units in every state, subscriptions with terms and billing
// cycles, user counts, and tenants configured to fail. The same seed gives the
// same estate and byte-identical response bodies (for the same request
// sequence); dates are counted from a fixed base date (BaseDate, or the day of
// Options.Now when a clock is given). Estate returns the truth, for tests to
// compare what seatsync stored with.
//
// # The app registration
//
// The simulator accepts one confidential client: Options.ClientID and
// Options.ClientSecret, by default DefaultClientID and DefaultClientSecret.
// The partner tenant is Options.PartnerTenantID (DefaultPartnerTenantID), and
// the partner's admin agent who signs in is fixed (see Partner.User).
//
// # Identity platform
//
// GET /{tenant}/oauth2/v2.0/authorize checks the request (client id, code
// response type, an http(s) redirect URI, scopes, state, an S256 PKCE
// challenge) and shows a small consent page whose buttons POST back; the POST
// redirects to the redirect URI with code and state, or with
// error=access_denied on cancel. Adding sim_auto_consent=1 to the query skips
// the page. POST /{tenant}/oauth2/v2.0/token redeems codes (single use, ten
// minutes, redirect URI and PKCE verifier checked) and refresh tokens
// (rotating; each one lives 90 days from its issue, old ones keep working as
// Microsoft's do) for one resource per request: Graph or Partner Center. The
// tenant in the path may be the partner's (or organizations/common) or a
// customer's; customers configured to fail answer with the identity
// platform's documented error body. Access tokens are opaque and bound to
// (tenant, resource, app). The id_token is an unsigned JWT ("alg":"none",
// empty signature): seatsync reads its claims without verifying, as it may
// for a token taken straight from the token endpoint.
//
// # Graph
//
// GET /v1.0/subscribedSkus, /v1.0/directory/subscriptions, /v1.0/contracts,
// /v1.0/tenantRelationships/delegatedAdminCustomers, /v1.0/organization and
// /v1.0/users/$count (ConsistencyLevel: eventual required, answered as
// text/plain), with @odata.nextLink paging ($skiptoken) on the three lists,
// OData error bodies, 403 Authorization_RequestDenied for tenants whose GDAP
// relationship grants no role, 404 for deleted tenants.
//
// Graph reads the tenant a token was issued for; it has no tenant in the URL.
// The simulator is stricter than Graph in one respect, to make a wrong token
// loud instead of silently returning another tenant's data: customer data
// (subscribedSkus, directory/subscriptions, users/$count) asked for with a
// token of the partner's own tenant, and partner data (contracts,
// delegatedAdminCustomers) asked for with a customer's token, are 401
// InvalidAuthenticationToken.
//
// # Partner Center
//
// GET /v1/customers pages with both shapes Partner Center is known to use: a
// continuationToken in the body and a links.next whose headers carry
// MS-ContinuationToken (the next page is GET /v1/customers?seekOperation=Next
// with that header). GET /v1/customers/{id}/subscriptions lists the
// subscriptions the partner sold the customer; their ids equal Graph's
// commerceSubscriptionId.
//
// # Catalog
//
// GET /product-names.csv is a product-names CSV with Microsoft's header and
// the real GUIDs, part numbers and display names of the SKUs the simulator
// sells (service plan ids are invented), with ETag and Last-Modified, and 304
// for a matching If-None-Match.
//
// # Throttling, faults, counters
//
// Options.Budgets gives Graph and Partner Center fixed-window request budgets
// per app and per (app, tenant); past them a request is answered 429 with a
// Retry-After in (possibly fractional) seconds until the window ends. Inject
// queues faults for the next calls of an endpoint (optionally of one tenant):
// 503, a hang until the client gives up, a malformed body, or 429. Calls
// counts every request by "service METHOD path-template" and, where a tenant
// is known, by the same key followed by " tenant=" and the tenant id.
package mscloudsim
