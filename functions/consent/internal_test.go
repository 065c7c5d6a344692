package consent

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/seatsync/seatsync/shared/identity"
	"github.com/seatsync/seatsync/shared/seatsync"
)

func TestSealOpensOnlyWithItsStateAndCookie(t *testing.T) {
	state, cookie := seatsync.NewSecret("state-value-0123456789"), seatsync.NewSecret("cookie-value-0123456789")
	verifier, nonce := seatsync.NewSecret(strings.Repeat("v", 64)), seatsync.NewSecret("nonce-value")
	h := hashSecret(state)
	text, err := seal(state, cookie, verifier, nonce, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{state.Reveal(), cookie.Reveal(), verifier.Reveal(), nonce.Reveal()} {
		if strings.Contains(text, s) {
			t.Fatal("the sealed text holds a secret in the clear")
		}
	}
	v, n, err := unseal(state, cookie, h, text)
	if err != nil || !v.Equal(verifier) || !n.Equal(nonce) {
		t.Fatalf("unseal: %v", err)
	}
	again, _ := seal(state, cookie, verifier, nonce, h)
	if again == text {
		t.Error("two seals of the same values are identical: no random IV")
	}
	other := seatsync.NewSecret("other")
	for name, try := range map[string]func() error{
		"other cookie":   func() error { _, _, err := unseal(state, other, h, text); return err },
		"other state":    func() error { _, _, err := unseal(other, cookie, h, text); return err },
		"other row":      func() error { _, _, err := unseal(state, cookie, hashSecret(other), text); return err },
		"tampered":       func() error { _, _, err := unseal(state, cookie, h, text[:len(text)-2]+"AA"); return err },
		"not base64":     func() error { _, _, err := unseal(state, cookie, h, "!!"); return err },
		"too short":      func() error { _, _, err := unseal(state, cookie, h, "AAAA"); return err },
		"cookie ≠ state": func() error { _, _, err := unseal(cookie, state, h, text); return err },
	} {
		if err := try(); err != errUnseal {
			t.Errorf("%s: %v, want errUnseal", name, err)
		}
	}
}

func TestPageStyleMatchesItsCSPHash(t *testing.T) {
	rec := httptest.NewRecorder()
	writePage(rec, page{Title: "t"})
	body := rec.Body.String()
	i, j := strings.Index(body, "<style>"), strings.Index(body, "</style>")
	if i < 0 || j < i {
		t.Fatal("no style element")
	}
	sum := sha256.Sum256([]byte(body[i+len("<style>") : j]))
	want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, want) {
		t.Errorf("CSP %q does not allow the page's own style (%s)", csp, want)
	}
}

func TestAADSTSNumber(t *testing.T) {
	for desc, want := range map[string]int{
		"AADSTS65001: The user or administrator has not consented": 65001,
		"x AADSTS90094: admin":                  90094,
		"AADSTS":                                0,
		"no code here":                          0,
		"AADSTS99999999999999: overlong number": 999999999,
	} {
		if got := identity.AADSTSFromDescription(desc); got != want {
			t.Errorf("AADSTSFromDescription(%q) = %d, want %d", desc, got, want)
		}
	}
}
