package psaapi

import (
	"encoding/csv"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/httpapi"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// MaxChangeWindow is the longest since–until window GET /changes answers.
const MaxChangeWindow = 366 * 24 * time.Hour

// CSVFilename is the file name GET /licenses?format=csv suggests.
const CSVFilename = "seatsync-licenses.csv"

// tenantLicense is a row of GET /licenses: tenantId and tenantName always
// present (seatsync.License omits them when empty), then the licence's
// fields. The outer fields shadow the embedded ones of the same JSON name.
type tenantLicense struct {
	TenantID   string `json:"tenantId"`
	TenantName string `json:"tenantName"`
	seatsync.License
}

// tenantID checks the {tenantId} path parameter and that the tenant exists.
func (a *API) tenantID(r *http.Request) (seatsync.Tenant, error) {
	id, err := pathGUID(r, "tenantId", "tenant id")
	if err != nil {
		return seatsync.Tenant{}, err
	}
	return a.licences.Tenant(r.Context(), id)
}

func (a *API) tenant(w http.ResponseWriter, r *http.Request) {
	t, err := a.tenantID(r)
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, normalTenant(t))
}

func (a *API) tenantLicenses(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var day time.Time
	if q.Has("at") {
		d, err := a.parseDay(q.Get("at"))
		if err != nil {
			httpapi.WriteError(w, r, a.log, err)
			return
		}
		day = d
	}
	t, err := a.tenantID(r)
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	var ls []seatsync.License
	if day.IsZero() {
		ls, err = a.licences.Licenses(r.Context(), t.TenantID)
	} else {
		ls, err = a.licences.LicensesAt(r.Context(), t.TenantID, day)
	}
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	ls = nonNil(ls)
	for i := range ls {
		// The tenant is the path's: its rows do not repeat it.
		ls[i].TenantID, ls[i].TenantName = "", ""
		ls[i].SubscriptionIDs = nonNil(ls[i].SubscriptionIDs)
	}
	httpapi.WriteJSON(w, http.StatusOK, list[seatsync.License]{Value: ls})
}

// parseDay reads ?at=: a date (YYYY-MM-DD, a UTC day) that is not after
// today (UTC).
func (a *API) parseDay(s string) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, seatsync.Errorf(seatsync.EInvalid, "at must be a date in the form YYYY-MM-DD, such as 2026-03-01; %q is not.",
			seatsync.CleanText(s, 40))
	}
	now := a.now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if d.After(today) {
		return time.Time{}, seatsync.Errorf(seatsync.EInvalid, "at is %s, a date in the future; the latest day with licence data is today, %s (UTC).",
			d.Format(time.DateOnly), today.Format(time.DateOnly))
	}
	return d, nil
}

func (a *API) subscriptions(w http.ResponseWriter, r *http.Request) {
	t, err := a.tenantID(r)
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	subs, err := a.licences.Subscriptions(r.Context(), t.TenantID)
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, list[seatsync.Subscription]{Value: nonNil(subs)})
}

func (a *API) counts(w http.ResponseWriter, r *http.Request) {
	t, err := a.tenantID(r)
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	c, ok, err := a.licences.Counts(r.Context(), t.TenantID)
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	if !ok {
		httpapi.WriteError(w, r, a.log, seatsync.Errorf(seatsync.ENotFound,
			"The tenant %s has not been synced yet, so it has no user counts; they appear after its first successful sync.", t.TenantID))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, c)
}

func (a *API) allLicenses(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	asCSV, err := wantCSV(q, r.Header.Get("Accept"))
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	tenantID, err := queryGUID(q, "tenantId", "tenant id")
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	skuID, err := queryGUID(q, "skuId", "SKU id")
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	ls, err := a.licences.AllLicenses(r.Context(), tenantID, skuID)
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	rows := make([]tenantLicense, len(ls))
	for i, l := range ls {
		l.SubscriptionIDs = nonNil(l.SubscriptionIDs)
		rows[i] = tenantLicense{TenantID: l.TenantID, TenantName: l.TenantName, License: l}
	}
	w.Header().Set("Vary", "Accept")
	if asCSV {
		a.writeCSV(w, r, rows)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, list[tenantLicense]{Value: rows})
}

// queryGUID reads an optional GUID filter, lower case; "" when absent.
func queryGUID(q url.Values, name, what string) (string, error) {
	if !q.Has(name) {
		return "", nil
	}
	v := q.Get(name)
	if !seatsync.IsGUID(v) {
		return "", seatsync.Errorf(seatsync.EInvalid, "%s must be a %s (a GUID such as 00000000-0000-0000-0000-000000000000); %q is not.",
			name, what, seatsync.CleanText(v, 40))
	}
	return strings.ToLower(v), nil
}

// wantCSV reports whether GET /licenses answers CSV: format=csv, or no
// format and an Accept header that prefers text/csv to application/json.
func wantCSV(q url.Values, accept string) (bool, error) {
	if q.Has("format") {
		switch strings.ToLower(q.Get("format")) {
		case "json":
			return false, nil
		case "csv":
			return true, nil
		default:
			return false, seatsync.Errorf(seatsync.EInvalid, "format must be json or csv; %q is neither.", seatsync.CleanText(q.Get("format"), 40))
		}
	}
	csvQ, jsonQ := 0.0, 0.0
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		weight := 1.0
		if s, ok := params["q"]; ok {
			if weight, err = strconv.ParseFloat(s, 64); err != nil || weight < 0 || weight > 1 {
				continue
			}
		}
		switch mt {
		case "text/csv":
			csvQ = max(csvQ, weight)
		case "application/json":
			jsonQ = max(jsonQ, weight)
		}
	}
	return csvQ > 0 && csvQ > jsonQ, nil
}

// CSVColumns are the columns of GET /licenses?format=csv: the JSON field
// names, in the contract's order.
var CSVColumns = []string{"tenantId", "tenantName", "skuId", "skuPartNumber", "productName", "enabled", "suspended",
	"warning", "lockedOut", "consumed", "available", "capabilityStatus", "appliesTo", "subscriptionIds", "syncedAt"}

func (a *API) writeCSV(w http.ResponseWriter, r *http.Request, rows []tenantLicense) {
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+CSVFilename+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	cw.UseCRLF = true // RFC 4180
	_ = cw.Write(CSVColumns)
	for _, l := range rows {
		_ = cw.Write([]string{
			cell(l.TenantID), cell(l.TenantName), cell(l.SkuID), cell(l.SkuPartNumber), cell(l.ProductName),
			strconv.Itoa(l.Enabled), strconv.Itoa(l.Suspended), strconv.Itoa(l.Warning), strconv.Itoa(l.LockedOut),
			strconv.Itoa(l.Consumed), strconv.Itoa(l.Available),
			cell(l.CapabilityStatus), cell(l.AppliesTo), cell(strings.Join(l.SubscriptionIDs, ";")),
			l.SyncedAt.Format(time.RFC3339Nano),
		})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		// The status is sent: all that is left is to log it.
		a.log.WarnContext(r.Context(), "writing the licences CSV failed", "error", err.Error())
	}
}

// cell neutralises spreadsheet formula injection in a text cell: a value
// that starts with =, +, -, @ (or a tab or carriage return, which some
// spreadsheets skip before them) gets a leading single quote, so that
// Excel, LibreOffice and Google Sheets show it as text. Numbers and times
// are written by this package and never pass through here, so a negative
// quantity stays a number.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (a *API) changes(w http.ResponseWriter, r *http.Request) {
	since, until, err := a.changeWindow(r.URL.Query())
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	cs, err := a.licences.Changes(r.Context(), since, until)
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	cs = nonNil(cs)
	// A feed reads in the order things happened.
	slices.SortStableFunc(cs, func(x, y seatsync.Change) int { return x.DetectedAt.Compare(y.DetectedAt) })
	httpapi.WriteJSON(w, http.StatusOK, list[seatsync.Change]{Value: cs})
}

// changeWindow reads since (required) and until (default now), both
// RFC 3339, until not before since and at most MaxChangeWindow after it.
func (a *API) changeWindow(q url.Values) (since, until time.Time, err error) {
	if !q.Has("since") {
		return since, until, seatsync.Errorf(seatsync.EInvalid,
			"since is required: the start of the window as an RFC 3339 time, such as 2026-03-01T00:00:00Z.")
	}
	if since, err = parseTime("since", q.Get("since")); err != nil {
		return since, until, err
	}
	until = a.now().UTC()
	if q.Has("until") {
		if until, err = parseTime("until", q.Get("until")); err != nil {
			return since, until, err
		}
	}
	if until.Before(since) {
		return since, until, seatsync.Errorf(seatsync.EInvalid, "until (%s) is before since (%s).",
			until.Format(time.RFC3339), since.Format(time.RFC3339))
	}
	if until.Sub(since) > MaxChangeWindow {
		return since, until, seatsync.Errorf(seatsync.EInvalid,
			"The window from since to until is over %d days; ask for the changes in windows of at most %d days.",
			MaxChangeWindow/(24*time.Hour), MaxChangeWindow/(24*time.Hour))
	}
	return since.UTC(), until.UTC(), nil
}

// parseTime reads an RFC 3339 time. A space where the offset's + was is
// taken as the +: a query string turns an unescaped + into a space.
func parseTime(name, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil && strings.Count(s, " ") == 1 {
		t, err = time.Parse(time.RFC3339, strings.Replace(s, " ", "+", 1))
	}
	if err != nil {
		return time.Time{}, seatsync.Errorf(seatsync.EInvalid,
			"%s must be an RFC 3339 time such as 2026-03-01T00:00:00Z (escape a + in the offset as %%2B); %q is not.",
			name, seatsync.CleanText(s, 60))
	}
	return t, nil
}
