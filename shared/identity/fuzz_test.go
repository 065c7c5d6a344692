package identity

import (
	"strings"
	"testing"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// FuzzParseIDToken: no input panics, every error is one of ours (prefixed,
// quoting nothing of the input), and a token that parses parses the same way
// again.
func FuzzParseIDToken(f *testing.F) {
	f.Add(jwt(idHeader, idPayload, "sig"))
	f.Add(jwt(`{"alg":"none"}`, `{"aud":["a","b"],"exp":1.5}`, ""))
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseIDToken(seatsync.NewSecret(s))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "identity: id token: ") {
				t.Fatalf("foreign error %q", err)
			}
			if len(s) > 100 && strings.Contains(err.Error(), s) {
				t.Fatalf("error quotes the input")
			}
			return
		}
		again, err := ParseIDToken(seatsync.NewSecret(s))
		if err != nil || again.TenantID != c.TenantID || !again.Expires.Equal(c.Expires) || !again.Nonce.Equal(c.Nonce) {
			t.Fatalf("second parse differs: %v", err)
		}
		if strings.Count(s, ".") != 2 {
			t.Fatalf("accepted %d segments", strings.Count(s, ".")+1)
		}
	})
}
