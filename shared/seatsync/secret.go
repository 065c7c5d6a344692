package seatsync

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
)

// Redacted is what a Secret shows wherever it is printed, logged or encoded.
const Redacted = "[REDACTED]"

// Secret holds a token, code, verifier, key or client secret. It cannot reach
// a log, an error string or a JSON document by accident: every way of printing
// it shows Redacted, and the value comes out only through Reveal, which a
// reviewer can grep for.
type Secret struct {
	v string
}

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the secret value, for the one call that must send it.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// Equal reports whether s and o hold the same value, in constant time.
func (s Secret) Equal(o Secret) bool { return ConstantTimeEqual(s.v, o.v) }

// String implements fmt.Stringer.
func (s Secret) String() string { return Redacted }

// GoString implements fmt.GoStringer, so %#v is safe too.
func (s Secret) GoString() string { return Redacted }

// Format implements fmt.Formatter, covering every verb (%x of a string would
// otherwise print the bytes).
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON implements json.Marshaler; a Secret is never serialised.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler for encoders that prefer it.
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// ConstantTimeEqual compares a and b without leaking where they differ.
func ConstantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
