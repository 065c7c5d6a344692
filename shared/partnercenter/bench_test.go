package partnercenter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/seatsync/seatsync/shared/partnercenter"
)

// roundTripper answers every request from memory, so the benchmark measures
// the client's decoding rather than a loopback connection.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// BenchmarkSubscriptions1000 decodes one customer's list of 1,000
// subscriptions in the documented shape, through the whole client.
func BenchmarkSubscriptions1000(b *testing.B) {
	items := make([]map[string]any, 1000)
	for i := range items {
		cycle := "monthly"
		if i%2 == 1 {
			cycle = "annual"
		}
		items[i] = map[string]any{
			"id":                    fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i),
			"offerId":               "CFQ7TTC0LF8R:0001:CFQ7TTC0KDLR",
			"offerName":             "Microsoft 365 Business Premium",
			"friendlyName":          fmt.Sprintf("Business Premium %d", i),
			"productType":           map[string]string{"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"},
			"quantity":              i%300 + 1,
			"unitType":              "Licenses",
			"hasPurchasableAddons":  false,
			"creationDate":          "2024-02-01T10:20:30.1234567Z",
			"effectiveStartDate":    "2024-02-01T10:20:29.654321Z",
			"commitmentEndDate":     "2025-01-31T00:00:00Z",
			"commitmentEndDateTime": "2025-01-31T23:59:59Z",
			"status":                "active",
			"autoRenewEnabled":      true,
			"isTrial":               false,
			"billingType":           "license",
			"billingCycle":          cycle,
			"termDuration":          "P1Y",
			"contractType":          "subscription",
			"links":                 map[string]any{"self": map[string]any{"uri": "/customers/x/subscriptions/y", "method": "GET", "headers": []any{}}},
			"attributes":            map[string]string{"objectType": "Subscription"},
		}
	}
	body, err := json.Marshal(map[string]any{"totalCount": len(items), "items": items,
		"attributes": map[string]string{"objectType": "Collection"}})
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
	})}
	c, err := partnercenter.New("https://api.partnercenter.microsoft.com", &tokens{}, &partnercenter.Options{HTTPClient: hc})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		subs, err := c.Subscriptions(context.Background(), tenantA)
		if err != nil || len(subs) != 1000 {
			b.Fatal(len(subs), err)
		}
	}
}
