package graph

import (
	"context"
	"net/url"
)

// SetMaxPages lowers the page bound so a test can reach it quickly.
func (c *Client) SetMaxPages(n int) { c.maxPages = n }

// TokenFor asks the client's kiota AccessTokenProvider for a token for
// rawURL on behalf of tenant, as a request would.
func (c *Client) TokenFor(ctx context.Context, rawURL, tenant string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	ctx, _ = withCall(ctx, "test", tenant)
	return c.tokens.GetAuthorizationToken(ctx, u, nil)
}

// AllowedHosts are the hosts the provider's validator allows.
func (c *Client) AllowedHosts() map[string]bool {
	return c.tokens.GetAllowedHostsValidator().GetAllowedHosts()
}
