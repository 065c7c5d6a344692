// Package consent is the consent function and, with consentcallback, the
// Secure Application Model consent flow that connects seatsync to the
// partner's Partner Center.
package consent

import (
	"log/slog"
	"net/http"

	"github.com/seatsync/seatsync/shared/httpapi"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// NotAvailable answers the consent routes until the consent flow exists, in
// the API's error format, so a partner admin sees why instead of a 404.
func NotAvailable(log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteError(w, r, log, seatsync.Errorf(seatsync.ENotImplemented, "Partner consent is not available in this version of seatsync."))
	})
}
