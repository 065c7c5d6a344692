// Package graph reads from Microsoft Graph what a licence sync needs: the
// partner's customers (GDAP delegatedAdminCustomers and DAP contracts, both
// read in the partner's own tenant) and, in each customer tenant, the
// subscribed SKUs, the directory subscriptions, the organization and the two
// user counts MSPs bill by.
//
// SDK. The calls go through msgraph-sdk-go's request builders and kiota's
// request adapter, but not through msgraphsdk.GraphServiceClient: that root
// package imports every request builder of Graph (about 190 MB of generated
// source), while the builder packages used here and the models come to about
// a fifth of that, which matters for a cold build on a small machine. The
// builders are created on msgraph-sdk-go-core's request adapter with a parse
// node registry of our own (JSON only), so no process-wide serializer
// registration is needed or done.
//
// Tokens. A kiota authentication.AccessTokenProvider asks the
// seatsync.TokenSource for a token for the tenant the call is for (carried in
// the request's context; "" is the partner's own tenant) and the scope
// "{graphURL}/.default". Its allowed hosts are exactly the configured Graph
// host, so a stand-in such as 127.0.0.1 gets the token (the SDK's
// credential-based constructor would silently send none there), and any
// other host gets no token and an error rather than an anonymous request. A
// token source error is returned to the caller unchanged.
//
// Retries. kiota's RetryHandler is not used: it truncates a fractional
// Retry-After ("0.5" becomes no wait at all) and caps waits on its own
// terms. This package's middleware, in kiota's pipeline where the
// RetryHandler would be, retries 429, 503, 504 and connection failures,
// honouring Retry-After to the millisecond (retryafter.Parse), with jittered
// exponential backoff when the header is absent, within Options.MaxRetryWait
// in total, and stops at once when the context is done. The same middleware
// turns every final non-2xx response into an *Error, reading Graph's OData
// error body itself, so that the status is kept even when the body is an
// HTML page from a gateway. Redirects are not followed.
//
// Paging. Every @odata.nextLink is followed with the same SDK builder
// (WithUrl), up to a bound on the number of pages; a next link to another
// scheme or host is refused, since the request would carry the token.
//
// Counts. /users/$count answers text/plain, which kiota's text parser reads
// without trimming a byte-order mark or white space; UserCounts therefore
// sends plain net/http requests, through the same http.Client (so the same
// retry middleware) and with a token from the same provider.
//
// Errors. Every failure from Graph is an *Error whose Kind says what to do
// (fix GDAP roles, drop a tenant, reconnect, come back later) and whose
// Problem is what an MSP sees; seatsync.ErrorCode and seatsync.ErrorMessage
// see the same code and words. Tokens appear in no error and no log record.
package graph
