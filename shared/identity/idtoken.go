package identity

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// maxIDToken caps the id_token size ParseIDToken looks at; real ones are
// 1-3 KiB.
const maxIDToken = 64 << 10

// Claims are the id_token claims seatsync uses: who consented, and in which
// tenant.
type Claims struct {
	TenantID          string // tid: the tenant the user signed in to
	ObjectID          string // oid: the user's object id in that tenant
	PreferredUsername string // preferred_username: display only, may change
	UPN               string // upn: present for some accounts only
	Name              string
	// Nonce is the nonce of the AuthRequest, echoed; compare it with
	// Secret.Equal.
	Nonce    seatsync.Secret
	Audience string // aud: seatsync's client ID; several are joined by " "
	Issuer   string // iss
	IssuedAt time.Time
	Expires  time.Time
}

// ParseIDToken reads the claims of an id_token WITHOUT verifying its
// signature. That is sound only for an id_token that came straight from the
// token endpoint in an answer to our own request over TLS (what ExchangeCode
// returns): the TLS connection, not the signature, vouches for the issuer.
// Use the claims for display and for checking that the tenant, audience and
// nonce are the ones the consent request expected; never parse an id_token
// from any other source with it, and never base authorization on it.
//
// Errors say what is malformed, never what the token holds.
func ParseIDToken(tok seatsync.Secret) (Claims, error) {
	s := tok.Reveal()
	if s == "" {
		return Claims{}, errors.New("identity: id token: empty")
	}
	if len(s) > maxIDToken {
		return Claims{}, errors.New("identity: id token: larger than 64 KiB")
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return Claims{}, errors.New("identity: id token: not three dot-separated segments")
	}
	header, err := decodeSegment(parts[0])
	if err != nil || !isJSONObject(header) {
		return Claims{}, errors.New("identity: id token: the header is not base64url JSON")
	}
	payload, err := decodeSegment(parts[1])
	if err != nil {
		return Claims{}, errors.New("identity: id token: the payload is not base64url")
	}
	// The signature is not checked (see above) but must at least be
	// base64url, or the token is not a JWS at all. An unsigned token
	// ("alg":"none") has an empty one.
	if _, err := decodeSegment(parts[2]); err != nil {
		return Claims{}, errors.New("identity: id token: the signature is not base64url")
	}
	var w struct {
		TID               string          `json:"tid"`
		OID               string          `json:"oid"`
		PreferredUsername string          `json:"preferred_username"`
		UPN               string          `json:"upn"`
		Name              string          `json:"name"`
		Nonce             string          `json:"nonce"`
		Aud               json.RawMessage `json:"aud"`
		Iss               string          `json:"iss"`
		Iat               json.Number     `json:"iat"`
		Exp               json.Number     `json:"exp"`
	}
	// The decoder's error is dropped: its text can quote claim values.
	if !isJSONObject(payload) || json.Unmarshal(payload, &w) != nil {
		return Claims{}, errors.New("identity: id token: the payload is not a JSON object of the expected claims")
	}
	aud, ok := parseAudience(w.Aud)
	if !ok {
		return Claims{}, errors.New("identity: id token: aud is neither a string nor a list of strings")
	}
	iat, ok := parseNumericDate(w.Iat)
	if !ok {
		return Claims{}, errors.New("identity: id token: iat is not a valid time")
	}
	exp, ok := parseNumericDate(w.Exp)
	if !ok {
		return Claims{}, errors.New("identity: id token: exp is not a valid time")
	}
	return Claims{
		TenantID:          w.TID,
		ObjectID:          w.OID,
		PreferredUsername: w.PreferredUsername,
		UPN:               w.UPN,
		Name:              w.Name,
		Nonce:             seatsync.NewSecret(w.Nonce),
		Audience:          aud,
		Issuer:            w.Iss,
		IssuedAt:          iat,
		Expires:           exp,
	}, nil
}

// decodeSegment decodes one JWS segment: unpadded base64url, though padding
// is forgiven since some encoders add it.
func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

// parseAudience accepts aud as a string or, as JWT allows, a list.
func parseAudience(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one, true
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return strings.Join(many, " "), true
	}
	return "", false
}

// parseNumericDate reads a JWT NumericDate (seconds since 1970, possibly
// fractional). Missing is the zero time; negative or past year 9999 fails.
func parseNumericDate(n json.Number) (time.Time, bool) {
	if n == "" {
		return time.Time{}, true
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f >= 253402300800 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}
