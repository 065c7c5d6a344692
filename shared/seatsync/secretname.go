package seatsync

import (
	"errors"
	"fmt"
	"strings"
)

// MaxSecretNameLen is Key Vault's limit on a secret name's length.
const MaxSecretNameLen = 127

// ErrInvalidSecretName is wrapped by the SecretStore adapters when a name is
// not one Key Vault accepts.
var ErrInvalidSecretName = errors.New("invalid secret name")

// refreshTokenSecretPrefix starts the name of every partner's refresh token
// secret, so that an operator browsing the vault can tell what it is.
const refreshTokenSecretPrefix = "seatsync-refresh-token-"

// RefreshTokenSecretName is the name of the secret that holds the refresh
// token of the partner tenant partnerTenantID: one secret per partner tenant,
// so that a re-consent by the same tenant replaces its token. The id is
// lower-cased because Key Vault names are case-insensitive and the local
// file store must agree with it.
func RefreshTokenSecretName(partnerTenantID string) string {
	return refreshTokenSecretPrefix + strings.ToLower(partnerTenantID)
}

// CheckSecretName returns an error wrapping ErrInvalidSecretName unless name
// is 1 to 127 characters of 0-9, a-z, A-Z and '-', the names Key Vault
// accepts. Both SecretStore adapters use it, so that a name that works with
// local files in standalone mode also works with Key Vault in Azure.
func CheckSecretName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: the name is empty; Key Vault secret names are 1-%d characters of 0-9, a-z, A-Z and '-'", ErrInvalidSecretName, MaxSecretNameLen)
	}
	if len(name) > MaxSecretNameLen {
		return fmt.Errorf("%w: the name is %d characters long; Key Vault secret names are 1-%d characters of 0-9, a-z, A-Z and '-'", ErrInvalidSecretName, len(name), MaxSecretNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
			return fmt.Errorf("%w: %q has a character other than 0-9, a-z, A-Z and '-' at byte %d", ErrInvalidSecretName, name, i)
		}
	}
	return nil
}
