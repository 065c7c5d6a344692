// Package keyvault is seatsync's Key Vault adapter: a seatsync.SecretStore
// on azsecrets, where the partner's refresh token lives in Azure (one secret
// per partner tenant, named by seatsync.RefreshTokenSecretName).
//
// Each SetSecret writes a new version with its content type, tags and
// expiry; GetSecret reads the latest version. Secret values leave this
// package only inside seatsync.Secret, and errors name the secret, never its
// value. A missing secret is an error wrapping seatsync.ErrSecretNotFound;
// other service failures wrap the SDK's *azcore.ResponseError, so callers
// can still reach the status and error code with errors.As.
//
// Tests plug the SDK's own fake server (azsecrets/fake) or an httptest TLS
// server into Options.ClientOptions.Transport.
package keyvault
