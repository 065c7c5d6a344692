// Package partnercenter reads what a Direct CSP partner's Partner Center knows
// about its customers: the customer list (GET /v1/customers) and each
// customer's subscriptions (GET /v1/customers/{tenantId}/subscriptions), for
// the billing facts Microsoft Graph does not have — billing cycle, term
// duration, commitment end, auto-renew and the purchased quantity.
//
// There is no Go SDK, so this is a small client on net/http. It calls with the
// partner's delegated token from a seatsync.TokenSource (Scope, partner
// tenant) and sends the request headers Partner Center documents.
//
// Paging. Partner Center pages customers with a seek token. A page may carry
// it in two places, and the public material does not settle which one the
// live service uses: a "continuationToken" property of the collection, and a
// links.next link whose headers hold MS-ContinuationToken. Customers follows
// links.next when there is one (sending its headers, adding the body token if
// the link lacks it) and otherwise asks for the next seek page with the body
// token. A walk is bounded in pages and stops with an error when the server
// hands back a token it already gave, so a looping server cannot trap a sync.
//
// Leniency. Documented optional fields may be absent and unknown ones are
// ignored. Partner Center's own examples carry date strings such as
// "2015-11-25T06: 41: 12Z"; dates are parsed leniently and one that still
// cannot be read becomes nil (with a debug log) rather than failing the
// customer's sync.
//
// Errors. Every failure from Partner Center is an *Error whose Kind tells the
// caller what to do (reconnect, fix a role, drop a customer, come back later)
// and whose Problem is what an MSP sees; seatsync.ErrorCode and
// seatsync.ErrorMessage see the same code and words. Throttling (429) and the transient
// 503 and 504 are retried within Options.MaxRetryWait, honouring Retry-After;
// no other 4xx is retried. Tokens appear in no error string and no log record.
package partnercenter
