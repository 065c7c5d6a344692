// Package httpapi holds what seatsync's HTTP functions share: the JSON body
// and error format of the PSA API contract, request logging that never logs
// a query string (it may hold a key or an OAuth code), and standalone mode's
// function-key check.
package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/logctx"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// MaxBodyBytes bounds request bodies of the API.
const MaxBodyBytes = 1 << 20

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"The response could not be encoded."}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Status maps an error code to its HTTP status.
func Status(code string) int {
	switch code {
	case seatsync.EInvalid:
		return http.StatusBadRequest
	case seatsync.EUnauthorized:
		return http.StatusUnauthorized
	case seatsync.ENotFound:
		return http.StatusNotFound
	case seatsync.EMethod:
		return http.StatusMethodNotAllowed
	case seatsync.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case seatsync.EConflict:
		return http.StatusConflict
	case seatsync.ENotImplemented:
		return http.StatusNotImplemented
	default:
		return http.StatusInternalServerError
	}
}

type errorBody struct {
	Error seatsync.Problem `json:"error"`
}

// WriteError answers err in the contract's format. Internal errors are
// logged with their detail and answered with a generic message.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := seatsync.ErrorCode(err)
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		code = seatsync.ETooLarge
		err = seatsync.Errorf(code, "The request body is over %d bytes.", MaxBodyBytes)
	}
	if code == seatsync.EInternal {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	}
	WriteJSON(w, Status(code), errorBody{Error: seatsync.Problem{Code: code, Message: seatsync.ErrorMessage(err)}})
}

// statusWriter records the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Log logs one line per request: method, path (never the query), status,
// duration, and a request id that also reaches the handler's log lines.
// It also bounds the request body and recovers a panic into a 500.
func Log(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 || strings.ContainsFunc(id, func(c rune) bool { return c < '!' || c > '~' }) {
			id = newRequestID()
		}
		ctx := logctx.With(r.Context(), slog.String("requestId", id))
		r = r.WithContext(ctx)
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		}
		sw := &statusWriter{ResponseWriter: w}
		sw.Header().Set("X-Request-Id", id)
		defer func() {
			aborted := false
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(ctx, "panic in handler", "panic", p)
				if sw.status == 0 {
					WriteError(sw, r, log, errors.New("panic"))
				} else {
					// The response has started: abort it rather than let a
					// truncated body look complete.
					aborted = true
				}
			}
			if sw.status == 0 {
				sw.status = http.StatusOK // what net/http sends for a silent handler
			}
			level := slog.LevelInfo
			if sw.status >= 500 || aborted {
				level = slog.LevelError
			}
			log.Log(ctx, level, "request", "method", r.Method, "path", truncate(r.URL.Path, 256),
				"status", sw.status, "durationMs", time.Since(start).Milliseconds())
			if aborted {
				panic(http.ErrAbortHandler)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// KeyHeader is the header that carries a function key.
const KeyHeader = "x-functions-key"

// RequireKey answers 401 unless the request carries key in the
// x-functions-key header or the code query parameter, as the Functions host
// does for authLevel function. Standalone mode only: in Azure the host has
// checked the key before it proxies the request.
func RequireKey(key seatsync.Secret, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		given := r.Header.Get(KeyHeader)
		if given == "" {
			given = r.URL.Query().Get("code")
		}
		switch {
		case given == "":
			WriteError(w, r, log, seatsync.Errorf(seatsync.EUnauthorized, "A function key is required: send it in the x-functions-key header or the code query parameter."))
		case !key.Equal(seatsync.NewSecret(given)):
			log.WarnContext(r.Context(), "wrong function key", "path", truncate(r.URL.Path, 256))
			WriteError(w, r, log, seatsync.Errorf(seatsync.EUnauthorized, "The function key is not valid."))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
