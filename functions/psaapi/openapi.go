package psaapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/seatsync/seatsync/shared/httpapi"
)

// The OpenAPI 3.0.3 document of the API, served at GET /api/v1/openapi.json.
// It is written out by hand, field by field, from the contract (DESIGN.md,
// "PSA API v1"), not derived from the Go types: the tests check every
// route's responses against it, so a field that drifts from the contract
// fails them.

// openAPIDoc is the document, encoded once.
var openAPIDoc = func() []byte {
	b, err := json.Marshal(openAPI())
	if err != nil {
		panic("psaapi: the OpenAPI document does not encode: " + err.Error())
	}
	return b
}()

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, json.RawMessage(openAPIDoc))
}

// obj is a JSON object whose keys are written in sorted order.
type obj = map[string]any

// prop is one property of a schema; props keep the contract's order in the
// document.
type prop struct {
	name   string
	schema obj
}

type props []prop

func (ps props) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.name)
		v, err := json.Marshal(p.schema)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func field(name string, schema obj) prop { return prop{name, schema} }

func str(desc string) obj { return obj{"type": "string", "description": desc} }

func enum(desc string, values ...string) obj {
	return obj{"type": "string", "enum": values, "description": desc}
}

func integer(desc string) obj { return obj{"type": "integer", "description": desc} }

func boolean(desc string) obj { return obj{"type": "boolean", "description": desc} }

func dateTime(desc string) obj {
	return obj{"type": "string", "format": "date-time", "description": desc}
}

func nullable(s obj) obj {
	out := obj{"nullable": true}
	for k, v := range s {
		out[k] = v
	}
	return out
}

func array(desc string, items obj) obj {
	return obj{"type": "array", "items": items, "description": desc}
}

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

// object is a closed object schema: every property is required except
// those named in optional, and no other property may appear.
func object(desc string, optional []string, ps ...prop) obj {
	required := []string{}
	for _, p := range ps {
		if !slices.Contains(optional, p.name) {
			required = append(required, p.name)
		}
	}
	o := obj{"type": "object", "additionalProperties": false, "properties": props(ps), "description": desc}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func problem(desc string) obj {
	return object(desc, nil,
		field("code", str("A stable code to branch on.")),
		field("message", str("What happened, in words an MSP can act on.")))
}

// listOf is the contract's list envelope around items.
func listOf(desc, item string) obj {
	return object(desc, []string{"nextLink"},
		field("value", array("The items of this page ([] when there are none).", ref(item))),
		field("nextLink", str("The absolute URL of the next page; absent on the last page. It does not carry the function key: send the key again.")))
}

func licenseProps() []prop {
	return []prop{
		field("skuId", str("The SKU's id (a GUID).")),
		field("skuPartNumber", str("The SKU's part number, such as ENTERPRISEPACK.")),
		field("productName", str("The product's name from Microsoft's catalog, such as Office 365 E3.")),
		field("enabled", integer("Prepaid units that are enabled.")),
		field("suspended", integer("Prepaid units that are suspended.")),
		field("warning", integer("Prepaid units in the warning state (grace period).")),
		field("lockedOut", integer("Prepaid units that are locked out.")),
		field("consumed", integer("Units assigned to users.")),
		field("available", integer("Units left to assign (enabled plus warning, minus consumed); negative when more are assigned.")),
		field("capabilityStatus", str("Graph's capabilityStatus: Enabled, Warning, Suspended, Deleted or LockedOut.")),
		field("appliesTo", str("User or Company.")),
		field("subscriptionIds", array("The ids of the subscriptions that provide the SKU.", str("A subscription id."))),
		field("syncedAt", dateTime("When the row was last synced.")),
	}
}

func schemas() obj {
	return obj{
		"Problem": problem("An error: a stable code and an actionable message, never internal detail."),
		"Error": object("The body of every error response.", nil,
			field("error", ref("Problem"))),
		"Connection": object("The partner's consent and whether its stored credentials work.", nil,
			field("status", enum("The connection's state.", "not_connected", "connected", "invalid")),
			field("partnerTenantId", str("The partner's tenant id; empty when not connected.")),
			field("consentedBy", str("Who granted consent; empty when not connected.")),
			field("consentedAt", nullable(dateTime("When consent was granted."))),
			field("credentialsValidated", boolean("Whether the stored credentials were checked against Microsoft.")),
			field("validatedAt", nullable(dateTime("When the credentials were last checked."))),
			field("refreshTokenExpiresAt", nullable(dateTime("When the stored refresh token expires unless used."))),
			field("lastError", nullable(problem("Why the connection is invalid; null when it is not.")))),
		"Tenant": object("A customer tenant of the partner.", nil,
			field("tenantId", str("The tenant's id (a GUID).")),
			field("displayName", str("The tenant's name.")),
			field("defaultDomain", str("The tenant's default domain.")),
			field("relationships", array("How the partner reaches the tenant.", enum("A relationship kind.", "gdap", "dap", "csp"))),
			field("active", boolean("Whether the tenant is still a customer; inactive tenants keep their rows.")),
			field("status", enum("The tenant's last sync.", "ok", "error", "pending")),
			field("lastSyncedAt", nullable(dateTime("When the tenant last synced successfully."))),
			field("lastError", nullable(problem("Why the last sync failed; null when it did not.")))),
		"TenantList":  listOf("A page of tenants.", "Tenant"),
		"License":     object("One SKU of a tenant.", nil, licenseProps()...),
		"LicenseList": listOf("A tenant's SKUs.", "License"),
		"TenantLicense": object("One SKU of one tenant, with the tenant.", nil,
			append([]prop{
				field("tenantId", str("The tenant's id (a GUID).")),
				field("tenantName", str("The tenant's name.")),
			}, licenseProps()...)...),
		"TenantLicenseList": listOf("The SKUs of all tenants.", "TenantLicense"),
		"Subscription": object("A subscription of a tenant, with its billing terms where Partner Center knows them.",
			[]string{"billingCycle", "termDuration", "commitmentEndAt", "autoRenew"},
			field("subscriptionId", str("The directory subscription's id.")),
			field("commerceSubscriptionId", str("The commerce subscription id, which Partner Center's subscription ids match.")),
			field("skuId", str("The SKU's id (a GUID).")),
			field("skuPartNumber", str("The SKU's part number.")),
			field("productName", str("The product's name.")),
			field("quantity", integer("The subscription's own quantity.")),
			field("status", str("Graph's status: Enabled, Warning, Suspended, Deleted or LockedOut.")),
			field("isTrial", boolean("Whether the subscription is a trial.")),
			field("createdAt", nullable(dateTime("When the subscription was created."))),
			field("nextLifecycleAt", nullable(dateTime("When the subscription next changes state (renews or expires)."))),
			field("billingCycle", str("Partner Center's billing cycle, such as monthly or annual; absent when unknown.")),
			field("termDuration", str("Partner Center's term as an ISO 8601 duration, such as P1Y; absent when unknown.")),
			field("commitmentEndAt", dateTime("When the term's commitment ends; absent when unknown.")),
			field("autoRenew", boolean("Whether the subscription renews itself; absent when unknown."))),
		"SubscriptionList": listOf("A tenant's subscriptions.", "Subscription"),
		"UserCounts": object("The user numbers MSPs bill by.", nil,
			field("licensedUsers", integer("Users with at least one licence.")),
			field("enabledUsers", integer("Users whose sign-in is enabled.")),
			field("syncedAt", dateTime("When the counts were synced."))),
		"Change": object("One quantity that differs from the previous sync.", nil,
			field("tenantId", str("The tenant's id (a GUID).")),
			field("skuId", str("The SKU's id (a GUID).")),
			field("skuPartNumber", str("The SKU's part number.")),
			field("field", enum("The quantity that changed.", "enabled", "suspended", "warning", "lockedOut", "consumed")),
			field("from", integer("The quantity before.")),
			field("to", integer("The quantity after.")),
			field("detectedAt", dateTime("When the sync that saw the change ran.")),
			field("runId", str("The sync run that saw the change."))),
		"ChangeList": listOf("Quantity changes, oldest first.", "Change"),
		"Run": object("A sync run and its progress.", nil,
			field("runId", str("The run's id (a GUID).")),
			field("trigger", enum("What started the run.", "schedule", "manual", "consent")),
			field("status", enum("The run's state.", "running", "succeeded", "partial", "failed")),
			field("startedAt", dateTime("When the run started.")),
			field("finishedAt", nullable(dateTime("When every tenant had reported; null while running."))),
			field("tenantsTotal", integer("Tenants in the run.")),
			field("tenantsSucceeded", integer("Tenants synced.")),
			field("tenantsFailed", integer("Tenants that failed; GET /tenants/{tenantId} says why."))),
		"SyncRequest": object("Which tenants to sync; leave the body out to sync every active tenant.", []string{"tenantIds"},
			field("tenantIds", obj{"type": "array", "minItems": 1, "items": obj{"type": "string", "format": "uuid"},
				"description": "Active customer tenant ids."})),
	}
}

func jsonBody(desc string, schema obj) obj {
	return obj{"description": desc, "content": obj{"application/json": obj{"schema": schema}}}
}

func errorResponse(desc string) obj { return jsonBody(desc, ref("Error")) }

// The error responses, by status.
var errorResponses = map[string]string{
	"400": "The request is not valid: the message says which parameter and why.",
	"401": "No function key, or a wrong one.",
	"404": "There is no such resource.",
	"409": "The state does not allow it now, such as a sync run already running.",
	"413": "The request body is too large.",
	"500": "An internal error; the server log has the details.",
	"503": "This part of the product is not configured on this server (code not_configured).",
}

// op is one operation answering ok (status → response) and the given
// error statuses.
func op(id, summary string, params []obj, ok obj, errs ...string) obj {
	responses := obj{}
	for status, r := range ok {
		responses[status] = r
	}
	for _, s := range append([]string{"401", "500"}, errs...) {
		responses[s] = obj{"$ref": "#/components/responses/E" + s}
	}
	o := obj{"operationId": id, "summary": summary, "responses": responses}
	if len(params) > 0 {
		o["parameters"] = params
	}
	return o
}

func param(name string) obj { return obj{"$ref": "#/components/parameters/" + name} }

func queryParam(name, desc string, required bool, schema obj) obj {
	return obj{"name": name, "in": "query", "required": required, "description": desc, "schema": schema}
}

func openAPI() obj {
	uuid := obj{"type": "string", "format": "uuid"}
	tenantID := []obj{param("tenantId")}
	responses := obj{}
	for status, desc := range errorResponses {
		responses["E"+status] = errorResponse(desc)
	}
	return obj{
		"openapi": "3.0.3",
		"info": obj{
			"title":   "SeatSync PSA API",
			"version": "1.0.0",
			"description": "Microsoft 365 licence data of every customer tenant of a CSP partner, for PSA tools. " +
				"JSON with camelCase fields; lists are {\"value\":[…],\"nextLink\":\"…\"}; errors are " +
				"{\"error\":{\"code\":\"…\",\"message\":\"…\"}}. Every route needs the function key.",
		},
		"servers":  []obj{{"url": "/api/v1"}},
		"security": []obj{{"functionKeyHeader": []string{}}, {"functionKeyQuery": []string{}}},
		"paths": obj{
			"/connection": obj{"get": op("getConnection", "The partner's connection (consent and credentials).", nil,
				obj{"200": jsonBody("The connection.", ref("Connection"))})},
			"/tenants": obj{"get": op("listTenants", "The customer tenants, a page at a time.",
				[]obj{param("top"), param("skiptoken")},
				obj{"200": jsonBody("A page of tenants.", ref("TenantList"))}, "400")},
			"/tenants/{tenantId}": obj{"get": op("getTenant", "One customer tenant.", tenantID,
				obj{"200": jsonBody("The tenant.", ref("Tenant"))}, "400", "404", "503")},
			"/tenants/{tenantId}/licenses": obj{"get": op("listTenantLicenses", "A tenant's SKUs, now or on a past day.",
				append(slices.Clone(tenantID), queryParam("at",
					"A past day (UTC), YYYY-MM-DD: the SKUs as they were that day. Today or earlier.", false,
					obj{"type": "string", "format": "date"})),
				obj{"200": jsonBody("The tenant's SKUs.", ref("LicenseList"))}, "400", "404", "503")},
			"/tenants/{tenantId}/subscriptions": obj{"get": op("listTenantSubscriptions", "A tenant's subscriptions.", tenantID,
				obj{"200": jsonBody("The tenant's subscriptions.", ref("SubscriptionList"))}, "400", "404", "503")},
			"/tenants/{tenantId}/counts": obj{"get": op("getTenantCounts", "A tenant's user counts.", tenantID,
				obj{"200": jsonBody("The counts.", ref("UserCounts"))}, "400", "404", "503")},
			"/licenses": obj{"get": op("listLicenses", "The SKUs of all tenants, as JSON or CSV.",
				[]obj{
					queryParam("tenantId", "Only this tenant's SKUs.", false, uuid),
					queryParam("skuId", "Only this SKU.", false, uuid),
					queryParam("format", "json (the default) or csv; without it, Accept: text/csv also selects CSV.", false,
						obj{"type": "string", "enum": []string{"json", "csv"}}),
				},
				obj{"200": obj{
					"description": "The SKUs. The CSV has a header row of the JSON field names in this order: " +
						"tenantId, tenantName, skuId, skuPartNumber, productName, enabled, suspended, warning, lockedOut, " +
						"consumed, available, capabilityStatus, appliesTo, subscriptionIds (joined with ;), syncedAt. " +
						"A text cell that starts with =, +, - or @ is prefixed with ' so that spreadsheets do not run it.",
					"content": obj{
						"application/json": obj{"schema": ref("TenantLicenseList")},
						"text/csv":         obj{"schema": obj{"type": "string"}},
					},
				}}, "400", "503")},
			"/changes": obj{"get": op("listChanges", "Quantity changes detected in a time window, oldest first.",
				[]obj{
					queryParam("since", "The start of the window (RFC 3339, inclusive).", true, obj{"type": "string", "format": "date-time"}),
					queryParam("until", "The end of the window (RFC 3339, exclusive); now by default. At most 366 days after since.",
						false, obj{"type": "string", "format": "date-time"}),
				},
				obj{"200": jsonBody("The changes.", ref("ChangeList"))}, "400", "503")},
			"/sync": obj{"post": func() obj {
				o := op("startSync", "Start an on-demand sync run.", nil,
					obj{"202": obj{
						"description": "The run has started.",
						"headers": obj{"Location": obj{"description": "The run's URL: /api/v1/sync/runs/{runId}.",
							"schema": obj{"type": "string"}}},
						"content": obj{"application/json": obj{"schema": ref("Run")}},
					}}, "400", "409", "413", "503")
				o["requestBody"] = obj{"required": false, "description": "Leave out to sync every active tenant.",
					"content": obj{"application/json": obj{"schema": ref("SyncRequest")}}}
				return o
			}()},
			"/sync/runs/latest": obj{"get": op("getLatestRun", "The run that started last, with its progress.", nil,
				obj{"200": jsonBody("The run.", ref("Run"))}, "404", "503")},
			"/sync/runs/{runId}": obj{"get": op("getRun", "A run and its progress.", []obj{param("runId")},
				obj{"200": jsonBody("The run.", ref("Run"))}, "400", "404", "503")},
			"/openapi.json": obj{"get": op("getOpenAPI", "This document.", nil,
				obj{"200": jsonBody("The OpenAPI 3.0.3 document.", obj{"type": "object"})})},
		},
		"components": obj{
			"securitySchemes": obj{
				"functionKeyHeader": obj{"type": "apiKey", "in": "header", "name": "x-functions-key",
					"description": "The function key, in a header (preferred)."},
				"functionKeyQuery": obj{"type": "apiKey", "in": "query", "name": "code",
					"description": "The function key, in the query string."},
			},
			"parameters": obj{
				"tenantId": obj{"name": "tenantId", "in": "path", "required": true, "description": "The tenant's id (a GUID).", "schema": uuid},
				"runId":    obj{"name": "runId", "in": "path", "required": true, "description": "The run's id (a GUID).", "schema": uuid},
				"top": obj{"name": "top", "in": "query", "required": false,
					"description": "The page size, 1 to 1000 (default 100). $top is accepted too.",
					"schema":      obj{"type": "integer", "minimum": 1, "maximum": MaxTop, "default": DefaultTop}},
				"skiptoken": obj{"name": "$skiptoken", "in": "query", "required": false,
					"description": "The continuation from a nextLink; follow nextLink rather than building it.",
					"schema":      obj{"type": "string"}},
			},
			"responses": responses,
			"schemas":   schemas(),
		},
	}
}
