package partnercenter_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/partnercenter"
)

// subscriptionsBody is one customer's subscriptions in the documented shape,
// written by hand (with a byte-order mark, trailing spaces and unknown fields
// as the docs' examples have them): a legacy licence-based subscription
// with the odd "06: 41: 12Z" dates and no offer, billing cycle or term; the
// same new-commerce offer bought twice, billed monthly and annually; an
// add-on with a parent, no productType and a date that cannot be read; and a
// trial with a date without zone or fraction.
const subscriptionsBody = "\ufeff" + `{ 
  "totalCount": 5, 
  "items": [
    {
      "id": "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
      "entitlementId": "11111111-2222-4333-8444-555555555555",
      "friendlyName": "Office 365 E3 (legacy)",
      "quantity": 12,
      "unitType": "none",
      "creationDate": "2016-03-04T09: 15: 27Z",
      "effectiveStartDate": "2016-03-04T08: 00: 00Z",
      "commitmentEndDate": "2017-03-03T08: 00: 00Z",
      "status": "active",
      "autoRenewEnabled": false,
      "billingType": "none",
      "contractType": "subscription",
      "links": {"offer": {"uri": "/v1/offers/796B6B5F-613C-4E24-A17C-EBA730D49C02", "method": "GET", "headers": []}},
      "orderId": "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d",
      "attributes": {"etag": "abc", "objectType": "Subscription"}
    },
    {
      "id": "aa11bb22-cc33-4d44-8e55-ff6677889900",
      "offerId": "CFQ7TTC0LF8R:0001:CFQ7TTC0KDLR",
      "offerName": "Microsoft 365 Business Premium",
      "friendlyName": "Business Premium (monthly billing)",
      "productType": {"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"},
      "quantity": 25, 
      "unitType": "Licenses",
      "hasPurchasableAddons": true,
      "creationDate": "2024-02-01T10:20:30.1234567Z",
      "effectiveStartDate": "2024-02-01T10:20:29.654321Z",
      "commitmentEndDate": "2025-01-31T00:00:00Z",
      "commitmentEndDateTime": "2025-01-31T23:59:59Z",
      "cancellationAllowedUntilDate": "2024-02-08T10:20:29Z",
      "status": "active",
      "autoRenewEnabled": true,
      "isTrial": false,
      "billingType": "license",
      "billingCycle": "monthly",
      "termDuration": "P1Y",
      "renewalTermDuration": "",
      "refundOptions": [{"type": "Full", "expiresAt": "2024-02-08T00:00:00Z"}],
      "isMicrosoftProduct": true,
      "partnerId": "",
      "attentionNeeded": false,
      "actionTaken": false,
      "contractType": "subscription",
      "publisherName": "Microsoft Corporation",
      "orderId": "3c4d5e6f7a8b",
      "attributes": {"objectType": "Subscription"}
    },
    {
      "id": "bb22cc33-dd44-4e55-9f66-007788990011",
      "offerId": "CFQ7TTC0LF8R:0001:CFQ7TTC0KDLR",
      "offerName": "Microsoft 365 Business Premium",
      "friendlyName": "Business Premium (annual billing)",
      "productType": {"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"},
      "quantity": 10,
      "unitType": "Licenses",
      "creationDate": "2024-05-15T00:00:00Z",
      "effectiveStartDate": "2024-05-15T00:00:00Z",
      "commitmentEndDate": "2025-05-14T00:00:00Z",
      "status": "active",
      "autoRenewEnabled": false,
      "isTrial": false,
      "billingType": "license",
      "billingCycle": "annual",
      "termDuration": "P1Y",
      "contractType": "subscription"
    },
    {
      "id": "cc33dd44-ee55-4f66-8077-118899001122",
      "offerId": "CFQ7TTC0LCHC:0002:CFQ7TTC0KR2C",
      "offerName": "Exchange Online Archiving",
      "parentSubscriptionId": "aa11bb22-cc33-4d44-8e55-ff6677889900",
      "quantity": 3,
      "unitType": "Licenses",
      "creationDate": "sometime in March",
      "commitmentEndDate": null,
      "status": "suspended",
      "billingCycle": "monthly",
      "termDuration": "P1M"
    },
    {
      "id": "dd44ee55-ff66-4077-9188-229900112233",
      "offerId": "CFQ7TTC0LH0R:0002:CFQ7TTC0KS1J",
      "offerName": "Microsoft Teams Essentials",
      "quantity": 25,
      "unitType": "Licenses",
      "creationDate": "2024-06-01 12:00:00",
      "effectiveStartDate": "0001-01-01T00:00:00",
      "commitmentEndDate": "2024-07-01",
      "status": "active",
      "isTrial": true,
      "billingCycle": "none",
      "termDuration": "P1M"
    }
  ],
  "links": {"self": {"uri": "/customers/3f0c9a1e-5b7d-4c2a-9e8f-1a2b3c4d5e6f/subscriptions", "method": "GET", "headers": []}},
  "attributes": {"objectType": "Collection"}
} `

func date(s string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func wantSubscriptions() []partnercenter.Subscription {
	return []partnercenter.Subscription{
		{
			ID: "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", FriendlyName: "Office 365 E3 (legacy)",
			Quantity: 12, UnitType: "none", Status: "active",
			CreationDate:       date("2016-03-04T09:15:27Z"),
			EffectiveStartDate: date("2016-03-04T08:00:00Z"),
			CommitmentEndDate:  date("2017-03-03T08:00:00Z"),
			BillingType:        "none", ContractType: "subscription",
		},
		{
			ID: "aa11bb22-cc33-4d44-8e55-ff6677889900", OfferID: "CFQ7TTC0LF8R:0001:CFQ7TTC0KDLR",
			OfferName: "Microsoft 365 Business Premium", FriendlyName: "Business Premium (monthly billing)",
			Quantity: 25, UnitType: "Licenses", Status: "active",
			CreationDate:          date("2024-02-01T10:20:30.1234567Z"),
			EffectiveStartDate:    date("2024-02-01T10:20:29.654321Z"),
			CommitmentEndDate:     date("2025-01-31T00:00:00Z"),
			CommitmentEndDateTime: date("2025-01-31T23:59:59Z"),
			AutoRenewEnabled:      true, BillingCycle: "monthly", TermDuration: "P1Y", BillingType: "license",
			ProductType: "OnlineServicesNCE", ContractType: "subscription",
		},
		{
			ID: "bb22cc33-dd44-4e55-9f66-007788990011", OfferID: "CFQ7TTC0LF8R:0001:CFQ7TTC0KDLR",
			OfferName: "Microsoft 365 Business Premium", FriendlyName: "Business Premium (annual billing)",
			Quantity: 10, UnitType: "Licenses", Status: "active",
			CreationDate:       date("2024-05-15T00:00:00Z"),
			EffectiveStartDate: date("2024-05-15T00:00:00Z"),
			CommitmentEndDate:  date("2025-05-14T00:00:00Z"),
			BillingCycle:       "annual", TermDuration: "P1Y", BillingType: "license",
			ProductType: "OnlineServicesNCE", ContractType: "subscription",
		},
		{
			ID: "cc33dd44-ee55-4f66-8077-118899001122", OfferID: "CFQ7TTC0LCHC:0002:CFQ7TTC0KR2C",
			OfferName: "Exchange Online Archiving", ParentSubscriptionID: "aa11bb22-cc33-4d44-8e55-ff6677889900",
			Quantity: 3, UnitType: "Licenses", Status: "suspended", BillingCycle: "monthly", TermDuration: "P1M",
		},
		{
			ID: "dd44ee55-ff66-4077-9188-229900112233", OfferID: "CFQ7TTC0LH0R:0002:CFQ7TTC0KS1J",
			OfferName: "Microsoft Teams Essentials", Quantity: 25, UnitType: "Licenses", Status: "active",
			CreationDate:      date("2024-06-01T12:00:00Z"),
			CommitmentEndDate: date("2024-07-01T00:00:00Z"),
			IsTrial:           true, BillingCycle: "none", TermDuration: "P1M",
		},
	}
}

func TestSubscriptions(t *testing.T) {
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path != "/v1/customers/"+tenantA+"/subscriptions" || r.URL.RawQuery != "" {
			t.Errorf("request %s?%s", r.URL.Path, r.URL.RawQuery)
		}
		writeRaw(w, 200, "application/json", subscriptionsBody)
	})
	h := newHarness(t, f.srv.URL, nil)
	// An upper-case id is a GUID too; the path has it lower-cased.
	got, err := h.c.Subscriptions(context.Background(), strings.ToUpper(tenantA))
	if err != nil {
		t.Fatal(err)
	}
	want := wantSubscriptions()
	if len(got) != len(want) {
		t.Fatalf("%d subscriptions, want %d", len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("subscription %d\n got %s\nwant %s", i, show(got[i]), show(want[i]))
		}
	}
	// The unreadable date is logged at debug, with the field it was in.
	if log := h.log.String(); !strings.Contains(log, "sometime in March") || !strings.Contains(log, "creationDate") {
		t.Errorf("unreadable date not logged:\n%s", log)
	}
}

// show prints a subscription with its dates, not their addresses.
func show(s partnercenter.Subscription) string {
	d := func(t *time.Time) string {
		if t == nil {
			return "nil"
		}
		return t.Format(time.RFC3339Nano)
	}
	dates := fmt.Sprintf(" created %s start %s end %s endTime %s",
		d(s.CreationDate), d(s.EffectiveStartDate), d(s.CommitmentEndDate), d(s.CommitmentEndDateTime))
	s.CreationDate, s.EffectiveStartDate, s.CommitmentEndDate, s.CommitmentEndDateTime = nil, nil, nil, nil
	return fmt.Sprintf("%+v", s) + dates
}

func TestSubscriptionsEmptyAndAbsentItems(t *testing.T) {
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 200, "application/json", `{"totalCount":0,"attributes":{"objectType":"Collection"}}`)
	})
	h := newHarness(t, f.srv.URL, nil)
	got, err := h.c.Subscriptions(context.Background(), tenantB)
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestSubscriptionsRejectsABadCustomerIDWithoutARequest(t *testing.T) {
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		t.Errorf("request sent: %s", r.URL.Path)
	})
	h := newHarness(t, f.srv.URL, nil)
	for _, id := range []string{"", "not-a-guid", "../../v1/customers", tenantA + "/../x",
		tenantA[:35] + "?", " " + tenantA, "{" + tenantA + "}", strings.ReplaceAll(tenantA, "-", "")} {
		if _, err := h.c.Subscriptions(context.Background(), id); err == nil || !strings.HasPrefix(err.Error(), "partnercenter: ") {
			t.Errorf("Subscriptions(%q) = %v, want an error", id, err)
		}
	}
	if n := h.tokens.calls.Load(); n != 0 {
		t.Errorf("token asked for %d times", n)
	}
}

func TestParseDate(t *testing.T) {
	for in, want := range map[string]string{
		"2015-11-25T06: 41: 12Z":          "2015-11-25T06:41:12Z",
		"2015-11-25T06 : 41 : 12 Z":       "2015-11-25T06:41:12Z",
		"2021-10-15T21:28:19.3058617Z":    "2021-10-15T21:28:19.3058617Z",
		"2021-10-15T21:28:19Z":            "2021-10-15T21:28:19Z",
		"2021-10-15t21:28:19z":            "2021-10-15T21:28:19Z",
		"2021-10-15T23:28:19+02:00":       "2021-10-15T21:28:19Z",
		"2021-10-15T23:28:19.5+0200":      "2021-10-15T21:28:19.5Z",
		"2021-10-15T21:28:19":             "2021-10-15T21:28:19Z",
		"2021-10-15T21:28:19.123":         "2021-10-15T21:28:19.123Z",
		"2021-10-15 21:28:19":             "2021-10-15T21:28:19Z",
		"2021-10-15T21:28":                "2021-10-15T21:28:00Z",
		"2021-10-15":                      "2021-10-15T00:00:00Z",
		" 9999-12-10T00:00:00Z ":          "9999-12-10T00:00:00Z",
		"2024-02-01T10:20:30.123456789Z":  "2024-02-01T10:20:30.123456789Z",
		"2024-02-01T10: 20: 30.1234567Z ": "2024-02-01T10:20:30.1234567Z",
	} {
		got, ok := partnercenter.ParseDate(in)
		if !ok || got == nil || got.Format(time.RFC3339Nano) != want || got.Location() != time.UTC {
			t.Errorf("ParseDate(%q) = %v, %v; want %s", in, got, ok, want)
		}
	}
	for _, absent := range []string{"", "  ", "0001-01-01T00:00:00", "0001-01-01T00:00:00Z"} {
		if got, ok := partnercenter.ParseDate(absent); got != nil || !ok {
			t.Errorf("ParseDate(%q) = %v, %v; want nil, true", absent, got, ok)
		}
	}
	for _, bad := range []string{"yesterday", "2021-13-01", "2021-10-15T25:00:00Z", "15/10/2021", "1634333299"} {
		if got, ok := partnercenter.ParseDate(bad); got != nil || ok {
			t.Errorf("ParseDate(%q) = %v, %v; want nil, false", bad, got, ok)
		}
	}
}
