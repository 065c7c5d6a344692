package identity

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// DefaultRefreshMargin is how long before expiry a cached access token is
// replaced: long enough that a Graph page fetched with it does not fail
// half-way through.
const DefaultRefreshMargin = 5 * time.Minute

// defaultTimeout bounds a token request when the caller gives no client: the
// token endpoint answers in well under a second, and a hung request would
// hold up every tenant waiting on the same refresh.
const defaultTimeout = 30 * time.Second

// Options tune a Client; the zero value (or nil) is fine for production.
type Options struct {
	// HTTPClient sends the token requests; nil means a client with a 30 s
	// timeout. It is copied, and the copy never follows redirects.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now. Tests pass a fake one.
	Now func() time.Time
	// Log gets one debug record per token request; nil discards.
	Log *slog.Logger
	// RefreshMargin is how long before expiry Tokens replaces a cached
	// access token; 0 means DefaultRefreshMargin.
	RefreshMargin time.Duration
}

// Client talks to one identity platform (login.microsoftonline.com or a
// national cloud's) as one confidential client. It is safe for concurrent
// use.
type Client struct {
	login    string // scheme://host, no trailing slash
	clientID string
	secret   seatsync.Secret
	hc       *http.Client
	now      func() time.Time
	log      *slog.Logger
	margin   time.Duration
}

// New returns a Client for the identity platform at loginURL (such as
// https://login.microsoftonline.com) and the app registration clientID with
// its clientSecret.
func New(loginURL, clientID string, clientSecret seatsync.Secret, opts *Options) (*Client, error) {
	login, err := checkLoginURL(loginURL)
	if err != nil {
		return nil, err
	}
	if !seatsync.IsGUID(clientID) {
		return nil, errors.New("identity: the client ID must be the app registration's application ID (a GUID)")
	}
	if clientSecret.IsZero() {
		return nil, errors.New("identity: the client secret is empty")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	c := &Client{
		login:    login,
		clientID: strings.ToLower(clientID),
		secret:   clientSecret,
		now:      o.Now,
		log:      o.Log,
		margin:   o.RefreshMargin,
	}
	var hc http.Client
	if o.HTTPClient != nil {
		hc = *o.HTTPClient
	} else {
		hc.Timeout = defaultTimeout
	}
	// A redirect would make the client resend the form, client secret and
	// refresh token included, to wherever Location points. The token
	// endpoint never redirects, so treat one as a bad answer.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.margin < 0 {
		return nil, errors.New("identity: RefreshMargin must not be negative")
	}
	if c.margin == 0 {
		c.margin = DefaultRefreshMargin
	}
	return c, nil
}

// ClientID returns the app registration's application ID.
func (c *Client) ClientID() string { return c.clientID }

// checkLoginURL accepts an absolute https URL with no path, query or user
// info (one trailing slash is forgiven). Plain http is allowed only for a
// loopback host, which is what tests use: anywhere else it would send the
// client secret in clear.
func checkLoginURL(s string) (string, error) {
	s = strings.TrimSuffix(s, "/")
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", errors.New("identity: the login URL must be absolute, like https://login.microsoftonline.com")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") || u.ForceQuery {
		return "", errors.New("identity: the login URL must be scheme and host only, like https://login.microsoftonline.com")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", errors.New("identity: the login URL must use https")
		}
	default:
		return "", errors.New("identity: the login URL must use https")
	}
	return u.Scheme + "://" + u.Host, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkTenant accepts a tenant GUID, a domain name (contoso.onmicrosoft.com)
// or one of the platform's aliases (organizations, common). The tenant is a
// path segment of the token URL, so anything else (a slash, "..") is refused
// before it can redirect the request elsewhere on the host.
func checkTenant(t string) error {
	if seatsync.IsGUID(t) {
		return nil
	}
	if t == "" || len(t) > 253 || t[0] == '.' || t[0] == '-' || t[len(t)-1] == '.' || strings.Contains(t, "..") {
		return fmt.Errorf("identity: %q is not a tenant ID or domain", t)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("identity: %q is not a tenant ID or domain", t)
		}
	}
	return nil
}

// checkScope refuses an empty scope or one with control characters, which
// could only come from a bug and would make the form ambiguous in logs.
func checkScope(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("identity: the scope is empty")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return errors.New("identity: the scope holds a control character")
		}
	}
	return nil
}

// newGUID returns a random (version 4) GUID, for client-request-id: it lets
// Microsoft support find one request in their logs.
func newGUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("identity: random request id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}
