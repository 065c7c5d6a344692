package seatsync

import (
	"errors"
	"fmt"
)

// Error codes shared by the API and the functions. The API maps each to an
// HTTP status; the words in Message are for an MSP, never internal detail.
const (
	EInvalid        = "invalid"      // the request or payload is malformed
	EUnauthorized   = "unauthorized" // missing or wrong key
	ENotFound       = "not_found"    // no such route or resource
	EMethod         = "method_not_allowed"
	ETooLarge       = "too_large"       // body over the limit
	EConflict       = "conflict"        // the state does not allow it now
	EInternal       = "internal"        // anything else; details only in logs
	ENotImplemented = "not_implemented" // a part of the product not built yet
)

// Error is an error with a code and a message that are safe to show a caller.
type Error struct {
	Code    string
	Message string
	// Err is the cause, for logs only; it is never shown to a caller.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or EInternal.
func ErrorCode(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the caller-safe message of the first *Error in err's
// chain, or a generic one: internal errors never reach a caller.
func ErrorMessage(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return "An internal error occurred; the server log has the details."
}
