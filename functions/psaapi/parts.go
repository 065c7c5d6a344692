package psaapi

import (
	"net/http"
	"strings"

	"github.com/seatsync/seatsync/shared/httpapi"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// CodeNotConfigured is the error code of a route whose part of the product
// this server was started without (answered 503).
const CodeNotConfigured = "not_configured"

// errorBody is the contract's error object.
type errorBody struct {
	Error seatsync.Problem `json:"error"`
}

func notConfigured(w http.ResponseWriter, message string) {
	httpapi.WriteJSON(w, http.StatusServiceUnavailable, errorBody{Error: seatsync.Problem{Code: CodeNotConfigured, Message: message}})
}

func (a *API) needLicences(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.licences == nil {
			notConfigured(w, "Licence data is not configured on this server: it was started without the licence tables, so this route cannot answer.")
			return
		}
		h(w, r)
	}
}

func (a *API) needRuns(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.runs == nil {
			notConfigured(w, "Sync runs are not configured on this server: it was started without the runs table, so this route cannot answer.")
			return
		}
		h(w, r)
	}
}

func (a *API) needStarter(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.starter == nil {
			notConfigured(w, "Starting a sync is not configured on this server: it needs the app registration (SEATSYNC_CLIENT_ID, SEATSYNC_CLIENT_SECRET) and a tenant-sync queue.")
			return
		}
		h(w, r)
	}
}

// pathGUID returns the path parameter name as a lower-case GUID, or a
// seatsync.Error EInvalid naming it. Ids become table keys: nothing else
// reaches the store.
func pathGUID(r *http.Request, name, what string) (string, error) {
	v := r.PathValue(name)
	if !seatsync.IsGUID(v) {
		return "", seatsync.Errorf(seatsync.EInvalid, "%q is not a %s: it must be a GUID such as 00000000-0000-0000-0000-000000000000.",
			seatsync.CleanText(v, 40), what)
	}
	return strings.ToLower(v), nil
}

// normalTenant gives a tenant the contract's shape: relationships is an
// array, never null.
func normalTenant(t seatsync.Tenant) seatsync.Tenant {
	if t.Relationships == nil {
		t.Relationships = []string{}
	}
	return t
}

// nonNil makes a nil slice empty: the contract's empty list is [], never
// null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
