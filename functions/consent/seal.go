package consent

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// hashSecret is the hex SHA-256 of s: how the state and the cookie value are
// kept in the consent state row (the row key is the state's hash).
func hashSecret(s seatsync.Secret) string {
	sum := sha256.Sum256([]byte(s.Reveal()))
	return hex.EncodeToString(sum[:])
}

// sealInfo separates this key derivation from any other use of the inputs.
const sealInfo = "seatsync consent state v1: PKCE verifier and nonce"

// sealed is what is sealed in a consent state row.
type sealed struct {
	Verifier string `json:"v"`
	Nonce    string `json:"n"`
}

// sealKey derives the AES-256 key that seals a state's verifier and nonce
// from the state and the cookie value. The row holds neither (only their
// SHA-256 hashes, which are not the key's inputs), so whoever reads the
// table cannot open the row; the callback, which has both, can.
func sealKey(state, cookie seatsync.Secret) ([]byte, error) {
	secret := make([]byte, 0, len(state.Reveal())+1+len(cookie.Reveal()))
	secret = append(secret, state.Reveal()...)
	secret = append(secret, 0)
	secret = append(secret, cookie.Reveal()...)
	return hkdf.Key(sha256.New, secret, nil, sealInfo, 32)
}

// seal encrypts the verifier and nonce (AES-256-GCM, the state hash as
// associated data so that the text only opens in its own row).
func seal(state, cookie, verifier, nonce seatsync.Secret, stateHash string) (string, error) {
	key, err := sealKey(state, cookie)
	if err != nil {
		return "", err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(sealed{Verifier: verifier.Reveal(), Nonce: nonce.Reveal()})
	if err != nil {
		return "", err
	}
	iv := make([]byte, aead.NonceSize())
	if _, err := rand.Read(iv); err != nil {
		return "", err
	}
	out := aead.Seal(iv, iv, plain, []byte(stateHash))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// errUnseal is every failure of unseal: the text does not open with this
// state and cookie. Its words hold nothing of the inputs.
var errUnseal = errors.New("consent: the stored consent state does not open with this state and cookie")

// unseal opens what seal sealed.
func unseal(state, cookie seatsync.Secret, stateHash, text string) (verifier, nonce seatsync.Secret, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil {
		return seatsync.Secret{}, seatsync.Secret{}, errUnseal
	}
	key, err := sealKey(state, cookie)
	if err != nil {
		return seatsync.Secret{}, seatsync.Secret{}, errUnseal
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return seatsync.Secret{}, seatsync.Secret{}, errUnseal
	}
	aead, err := cipher.NewGCM(block)
	if err != nil || len(raw) < aead.NonceSize() {
		return seatsync.Secret{}, seatsync.Secret{}, errUnseal
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(stateHash))
	if err != nil {
		return seatsync.Secret{}, seatsync.Secret{}, errUnseal
	}
	var s sealed
	if json.Unmarshal(plain, &s) != nil || s.Verifier == "" {
		return seatsync.Secret{}, seatsync.Secret{}, errUnseal
	}
	return seatsync.NewSecret(s.Verifier), seatsync.NewSecret(s.Nonce), nil
}
