package funchost

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/seatsync/seatsync/shared/logctx"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// Response is the custom-handler answer. The host reads it with a JSON
// formatter, so it is always JSON, always with all three keys.
type Response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
	// Error is ignored by the host (it sees only the non-2xx status); it
	// tells a person reading the exchange what went wrong, in safe words.
	Error *seatsync.Problem `json:"Error,omitempty"`
}

// TimerFunc handles a timer invocation.
type TimerFunc func(ctx context.Context, t Timer) error

// ServiceBusFunc handles one Service Bus message. Returning an error fails
// the invocation: the message is abandoned and redelivered.
type ServiceBusFunc func(ctx context.Context, m ServiceBusMessage) error

// HandleTimer adapts fn to the protocol for the function name whose timer
// trigger is bound to binding.
func HandleTimer(log *slog.Logger, name, binding string, fn TimerFunc) http.Handler {
	return handle(log, name, func(inv *Invocation) (Timer, error) { return inv.Timer(binding) }, fn)
}

// HandleServiceBus adapts fn to the protocol for the function name whose
// Service Bus trigger is bound to binding.
func HandleServiceBus(log *slog.Logger, name, binding string, fn ServiceBusFunc) http.Handler {
	return handle(log, name, func(inv *Invocation) (ServiceBusMessage, error) {
		m, err := inv.ServiceBus(binding)
		return m, err
	}, func(ctx context.Context, m ServiceBusMessage) error {
		ctx = logctx.With(ctx, slog.String("messageId", m.MessageID), slog.Int("deliveryCount", m.DeliveryCount))
		return fn(ctx, m)
	})
}

func handle[T any](log *slog.Logger, name string, decode func(*Invocation) (T, error), fn func(context.Context, T) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		inv, err := ReadInvocation(r, name)
		ctx := r.Context()
		id := r.Header.Get(InvocationIDHeader)
		if inv != nil {
			id = inv.ID
		}
		if id == "" || !invocationIDPattern.MatchString(id) {
			id = NewID()
		}
		ctx = logctx.With(ctx, slog.String("invocationId", id), slog.String("function", name))
		var v T
		if err == nil {
			v, err = decode(inv)
		}
		if err != nil {
			// Malformed payloads are not retried into success, but a non-2xx
			// keeps a Service Bus message for the dead-letter queue.
			log.ErrorContext(ctx, "invocation rejected", "error", err.Error())
			writeResponse(w, http.StatusBadRequest, Response{Error: &seatsync.Problem{Code: seatsync.EInvalid, Message: err.Error()}})
			return
		}
		if err := callSafely(ctx, fn, v); err != nil {
			log.ErrorContext(ctx, "invocation failed", "error", err.Error(), "durationMs", time.Since(start).Milliseconds())
			writeResponse(w, http.StatusInternalServerError, Response{Error: &seatsync.Problem{Code: seatsync.ErrorCode(err), Message: seatsync.ErrorMessage(err)}})
			return
		}
		log.InfoContext(ctx, "invocation succeeded", "durationMs", time.Since(start).Milliseconds())
		writeResponse(w, http.StatusOK, Response{})
	})
}

// callSafely turns a panic into an error, so one bad message fails its own
// invocation instead of the process (and every other in-flight one).
func callSafely[T any](ctx context.Context, fn func(context.Context, T) error, v T) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in handler: %v", p)
		}
	}()
	return fn(ctx, v)
}

func writeResponse(w http.ResponseWriter, status int, resp Response) {
	if resp.Outputs == nil {
		resp.Outputs = map[string]any{}
	}
	if resp.Logs == nil {
		resp.Logs = []string{}
	}
	b, err := json.Marshal(resp)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"Outputs":{},"Logs":[],"ReturnValue":null}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Ready answers the host's readiness probe (GET /): any answer means ready.
func Ready(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// UnknownFunction answers an invocation of a function this binary does not
// have; the host gets a non-2xx and the log names the function.
func UnknownFunction(log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.WarnContext(r.Context(), "unknown function or route", "method", r.Method, "path", truncate(r.URL.Path, 200))
		writeResponse(w, http.StatusNotFound, Response{Error: &seatsync.Problem{Code: seatsync.ENotFound, Message: "No function or route here: " + truncate(r.URL.Path, 200)}})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// NewID returns a random RFC 4122 version 4 UUID.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

var errNoSuchBinding = errors.New("no such binding")
