// Package logctx carries log attributes in a context, so that every record
// logged while handling an invocation names it (invocationId, function,
// tenantId) without passing loggers through every call.
package logctx

import (
	"context"
	"io"
	"log/slog"
)

type key struct{}

// With returns a context whose log records carry attrs as well as those
// already in ctx.
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(key{}).([]slog.Attr)
	all := make([]slog.Attr, 0, len(prev)+len(attrs))
	all = append(append(all, prev...), attrs...)
	return context.WithValue(ctx, key{}, all)
}

// Attrs returns the attributes carried by ctx.
func Attrs(ctx context.Context) []slog.Attr {
	a, _ := ctx.Value(key{}).([]slog.Attr)
	return a
}

// Handler adds the context's attributes to every record it passes on.
type Handler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h Handler) Handle(ctx context.Context, r slog.Record) error {
	if a := Attrs(ctx); len(a) > 0 {
		r = r.Clone()
		r.AddAttrs(a...)
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return Handler{h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h Handler) WithGroup(name string) slog.Handler {
	return Handler{h.Handler.WithGroup(name)}
}

// NewJSON returns the product's logger: JSON lines on w, with context
// attributes added.
func NewJSON(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(Handler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}
