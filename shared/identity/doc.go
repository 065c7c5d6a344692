// Package identity speaks the Microsoft identity platform's OAuth 2.0
// endpoints for seatsync's Secure Application Model connection: it builds the
// partner admin's consent URL (authorization code with PKCE), redeems the
// code, redeems the stored partner refresh token against the partner's own
// tenant or a customer tenant, and caches the access tokens it gets.
//
// seatsync is a confidential client: every token request carries the app's
// client secret. Tokens, codes, verifiers, state, nonces and the client
// secret are seatsync.Secret values from end to end; they are revealed only
// when the form body of a request is encoded, and never reach a log line, an
// error string or a message.
//
// Identity platform failures become *Error values whose Kind says what an
// MSP has to do (grant consent again, sign in with MFA, renew the client
// secret, wait) and whose Code is a stable seatsync error code, so that the
// API and the stored connection and tenant rows can show them.
//
// The package uses the standard library only: the token protocol seatsync
// needs is three form posts, and owning it keeps every place a secret could
// leak in one short file (token.go).
package identity
