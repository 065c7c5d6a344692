package identity

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// jwt builds header.payload.signature from JSON texts.
func jwt(header, payload, sig string) string {
	return b64(header) + "." + b64(payload) + "." + b64(sig)
}

const idHeader = `{"typ":"JWT","alg":"RS256","kid":"nOo3ZDrODXEK1jKWhXslHR_KXEg"}`

const idPayload = `{
	"aud": "5b3c2a11-7d4e-4f60-9a8b-c0d1e2f3a4b5",
	"iss": "https://login.microsoftonline.com/0f8fad5b-d9cb-469f-a165-70867728950e/v2.0",
	"iat": 1772416800,
	"nbf": 1772416800,
	"exp": 1772420700,
	"name": "Ada Admin",
	"nonce": "NONCE-8b1d44c2e9",
	"oid": "a1b2c3d4-0000-4000-8000-000000000001",
	"preferred_username": "ada@contoso-partner.onmicrosoft.com",
	"tid": "0f8fad5b-d9cb-469f-a165-70867728950e",
	"upn": "ada@contoso-partner.com",
	"ver": "2.0"
}`

func TestParseIDToken(t *testing.T) {
	tests := []struct {
		name    string
		tok     string
		wantAud string
	}{
		{"signed", jwt(idHeader, idPayload, "signature-bytes"), testClientID},
		{"unsigned, empty signature", jwt(`{"typ":"JWT","alg":"none"}`, idPayload, ""), testClientID},
		{"padded segments", base64.URLEncoding.EncodeToString([]byte(idHeader)) + "." + base64.URLEncoding.EncodeToString([]byte(idPayload)) + ".c2ln", testClientID},
		{"audience list", jwt(idHeader, strings.Replace(idPayload, `"aud": "5b3c2a11-7d4e-4f60-9a8b-c0d1e2f3a4b5"`, `"aud": ["5b3c2a11-7d4e-4f60-9a8b-c0d1e2f3a4b5","other"]`, 1), "s"), testClientID + " other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseIDToken(seatsync.NewSecret(tt.tok))
			if err != nil {
				t.Fatal(err)
			}
			if c.TenantID != partnerTenant || c.ObjectID != "a1b2c3d4-0000-4000-8000-000000000001" ||
				c.PreferredUsername != "ada@contoso-partner.onmicrosoft.com" || c.UPN != "ada@contoso-partner.com" ||
				c.Name != "Ada Admin" || c.Audience != tt.wantAud ||
				c.Issuer != "https://login.microsoftonline.com/"+partnerTenant+"/v2.0" {
				t.Errorf("claims = %+v", c)
			}
			if !c.Nonce.Equal(seatsync.NewSecret(testNonce)) {
				t.Error("nonce not read")
			}
			if !c.IssuedAt.Equal(time.Unix(1772416800, 0)) || !c.Expires.Equal(time.Unix(1772420700, 0)) {
				t.Errorf("iat %v exp %v", c.IssuedAt, c.Expires)
			}
		})
	}
}

func TestParseIDTokenMalformed(t *testing.T) {
	const marker = "CLAIMMARKER"
	good := jwt(idHeader, idPayload, "s")
	parts := strings.Split(good, ".")
	tests := map[string]string{
		"empty":                 "",
		"one segment":           parts[0],
		"two segments":          parts[0] + "." + parts[1],
		"four segments":         good + ".x",
		"five segments (JWE)":   good + ".x.y",
		"header bad base64":     "!!!." + parts[1] + "." + parts[2],
		"payload bad base64":    parts[0] + ".%%%" + marker + "." + parts[2],
		"signature bad base64":  parts[0] + "." + parts[1] + ".*",
		"header not JSON":       b64("not json") + "." + parts[1] + "." + parts[2],
		"payload not JSON":      parts[0] + "." + b64(marker+" plain text") + "." + parts[2],
		"payload JSON array":    parts[0] + "." + b64(`["`+marker+`"]`) + "." + parts[2],
		"payload truncated":     parts[0] + "." + b64(`{"tid":"`+marker) + "." + parts[2],
		"tid not a string":      jwt(idHeader, `{"tid":12345,"name":"`+marker+`"}`, "s"),
		"exp not a number":      jwt(idHeader, `{"exp":"`+marker+`"}`, "s"),
		"exp negative":          jwt(idHeader, `{"exp":-1}`, "s"),
		"exp beyond year 9999":  jwt(idHeader, `{"exp":1e20}`, "s"),
		"aud a number":          jwt(idHeader, `{"aud":42,"name":"`+marker+`"}`, "s"),
		"aud list of numbers":   jwt(idHeader, `{"aud":[1,2]}`, "s"),
		"too large":             jwt(idHeader, `{"name":"`+strings.Repeat("a", maxIDToken)+`"}`, "s"),
		"header JSON string":    b64(`"x"`) + "." + parts[1] + "." + parts[2],
		"whitespace everywhere": " " + good + " ",
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := ParseIDToken(seatsync.NewSecret(tok))
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if !strings.HasPrefix(err.Error(), "identity: id token: ") {
				t.Errorf("error = %q", err)
			}
			if strings.Contains(err.Error(), marker) || (len(tok) > 4 && strings.Contains(err.Error(), tok)) {
				t.Errorf("error quotes the token: %q", err)
			}
		})
	}
}
