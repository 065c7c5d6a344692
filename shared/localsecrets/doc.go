// Package localsecrets is the seatsync.SecretStore of standalone mode: one
// file per secret in a directory only its owner can enter, used where Azure
// would use Key Vault (SEATSYNC_KEYVAULT_URL unset).
//
// Each secret is a JSON file (mode 0600) holding the value and what Key Vault
// keeps beside it (content type, tags, expiry, last update). Writes go to a
// temporary file in the same directory, which is synced and renamed over the
// old file, and the directory is synced after: a reader, another process or a
// crash sees the old secret or the new one, never half of one. Names follow
// Key Vault's rules and, as in Key Vault, are case-insensitive, so that what
// works standalone works in Azure.
package localsecrets
