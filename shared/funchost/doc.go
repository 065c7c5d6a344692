// Package funchost speaks the Azure Functions custom-handler protocol and, for
// standalone mode, plays the host itself.
//
// In Azure the Functions host POSTs each non-HTTP invocation to
// /{functionName} with a JSON payload of Data and Metadata, and treats any
// non-2xx answer as a failed invocation (for Service Bus: abandon, redeliver,
// dead-letter after maxDeliveryCount). HTTP-only functions are proxied
// unchanged (enableProxyingHttpRequest) and are plain http.Handlers.
//
// The host encodes string values twice (a Service Bus body arrives as a JSON
// string holding a JSON string holding the JSON body) and numbers in
// Metadata as strings; the decoders here accept both that form and the plain
// one, so documentation samples and real hosts both work.
//
// In standalone mode (seatsync serve) the same handlers are invoked in
// process with payloads built in the host's own encoding: a timer fired from
// the function's NCRONTAB schedule and a durable queue with Service Bus
// semantics (peek-lock, at-least-once, retries with backoff, dead-letter).
package funchost
