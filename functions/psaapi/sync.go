package psaapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/seatsync/seatsync/shared/httpapi"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// MaxSyncBody bounds the body of POST /sync.
const MaxSyncBody = 64 << 10

func (a *API) sync(w http.ResponseWriter, r *http.Request) {
	ids, err := readSyncRequest(w, r)
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	run, err := a.starter.StartRun(r.Context(), seatsync.TriggerManual, ids)
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	w.Header().Set("Location", Prefix+"sync/runs/"+run.RunID)
	httpapi.WriteJSON(w, http.StatusAccepted, run)
}

// readSyncRequest reads POST /sync's optional body: none (or only white
// space) syncs every active tenant; else exactly one JSON object with at
// most the field tenantIds, a non-empty array of tenant GUIDs, which come
// back lower case, each once.
func readSyncRequest(w http.ResponseWriter, r *http.Request) ([]string, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxSyncBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, seatsync.Errorf(seatsync.ETooLarge, "The request body is over %d bytes; sync fewer tenants per request.", MaxSyncBody)
		}
		return nil, &seatsync.Error{Code: seatsync.EInvalid, Message: "The request body could not be read.", Err: err}
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, nil
	}
	const shape = `The body must be a JSON object such as {"tenantIds":["00000000-0000-0000-0000-000000000000"]}, or empty to sync every active tenant`
	if body[0] != '{' {
		return nil, seatsync.Errorf(seatsync.EInvalid, "%s.", shape)
	}
	// Decoded by hand rather than into a struct: encoding/json matches
	// field names without regard to case, and a strict body does not.
	dec := json.NewDecoder(bytes.NewReader(body))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		return nil, &seatsync.Error{Code: seatsync.EInvalid, Message: "The body is not valid JSON. " + shape + ".", Err: err}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, seatsync.Errorf(seatsync.EInvalid, "The body has more after its JSON object. %s.", shape)
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if name != "tenantIds" {
			return nil, seatsync.Errorf(seatsync.EInvalid, "The body has the unknown field %q; the only field is tenantIds.", seatsync.CleanText(name, 60))
		}
	}
	raw, ok := fields["tenantIds"]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var requested []string
	if err := json.Unmarshal(raw, &requested); err != nil {
		return nil, &seatsync.Error{Code: seatsync.EInvalid, Message: "tenantIds must be an array of tenant ids (strings). " + shape + ".", Err: err}
	}
	if len(requested) == 0 {
		return nil, seatsync.Errorf(seatsync.EInvalid, "tenantIds is empty; leave it out to sync every active tenant.")
	}
	var ids, bad []string
	seen := map[string]bool{}
	for _, id := range requested {
		if !seatsync.IsGUID(id) {
			bad = append(bad, `"`+seatsync.CleanText(id, 40)+`"`)
			continue
		}
		id = strings.ToLower(id)
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(bad) > 0 {
		more := ""
		if len(bad) > 10 {
			more = " and " + strconv.Itoa(len(bad)-10) + " more"
			bad = bad[:10]
		}
		return nil, seatsync.Errorf(seatsync.EInvalid, "These tenant ids are not GUIDs: %s%s.", strings.Join(bad, ", "), more)
	}
	return ids, nil
}

func (a *API) run(w http.ResponseWriter, r *http.Request) {
	id, err := pathGUID(r, "runId", "sync run id")
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	a.writeRun(w, r, id)
}

func (a *API) latestRun(w http.ResponseWriter, r *http.Request) {
	id, err := a.runs.LatestID(r.Context())
	if err == nil && id == "" {
		err = seatsync.Errorf(seatsync.ENotFound, "No sync run has started yet.")
	}
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	a.writeRun(w, r, id)
}

func (a *API) writeRun(w http.ResponseWriter, r *http.Request, id string) {
	run, err := a.runs.Progress(r.Context(), id)
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, run)
}
