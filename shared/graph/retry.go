package graph

import (
	"crypto/tls"
	"errors"
	"io"
	randv2 "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	khttp "github.com/microsoft/kiota-http-go"

	"github.com/seatsync/seatsync/shared/retryafter"
)

// retryMiddleware is the kiota middleware that replaces kiota's
// RetryHandler (which truncates "Retry-After: 0.5" to no wait at all). It is
// the last middleware before the transport, so it sees each attempt's raw
// response, and it is where a final non-2xx response becomes an *Error.
type retryMiddleware struct{ c *Client }

var _ khttp.Middleware = (*retryMiddleware)(nil)

// Intercept implements khttp.Middleware.
func (m *retryMiddleware) Intercept(p khttp.Pipeline, index int, req *http.Request) (*http.Response, error) {
	c := m.c
	ctx := req.Context()
	k := callFrom(ctx)
	if k == nil {
		k = &call{op: "request"}
	}
	token := bearerToken(req.Header.Get("Authorization"))
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 {
			r = req.Clone(ctx)
			r.Header.Set("Retry-Attempt", strconv.Itoa(attempt-1))
			if req.Body != nil && req.Body != http.NoBody {
				if req.GetBody == nil {
					// Cannot happen for these GETs; never resend a
					// consumed body.
					return nil, &Error{TenantID: k.tenant, Err: errors.New("cannot resend the request body")}
				}
				body, err := req.GetBody()
				if err != nil {
					return nil, &Error{TenantID: k.tenant, Err: err}
				}
				r.Body = body
			}
		}
		logAttrs := []any{"op", k.op, "tenantId", k.tenant, "method", r.Method, "path", r.URL.Path, "attempt", attempt}
		start := c.now()
		resp, err := p.Next(r, index)
		var e *Error
		var wait time.Duration
		if err != nil {
			c.log.DebugContext(ctx, "graph: request failed", append(logAttrs,
				"durationMs", c.now().Sub(start).Milliseconds(), "error", clean(err.Error(), token, 500))...)
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			e = &Error{TenantID: k.tenant, ClientRequestID: r.Header.Get("client-request-id"), Err: err}
			// A certificate that does not verify will not verify in a
			// minute.
			if _, badCert := errors.AsType[*tls.CertificateVerificationError](err); badCert {
				return nil, e
			}
			wait = backoff(attempt)
		} else {
			k.observe(resp)
			c.log.DebugContext(ctx, "graph: request", append(logAttrs,
				"status", resp.StatusCode, "durationMs", c.now().Sub(start).Milliseconds(),
				"requestId", clean(resp.Header.Get("request-id"), token, 100),
				"clientRequestId", clean(r.Header.Get("client-request-id"), token, 100))...)
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				resp.Body = &limitedBody{ReadCloser: resp.Body, left: maxBody}
				return resp, nil
			}
			body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
			_ = resp.Body.Close()
			if readErr != nil && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			e = responseError(resp, body, token, k.tenant)
			if e.ClientRequestID == "" {
				e.ClientRequestID = clean(r.Header.Get("client-request-id"), token, 100)
			}
			switch resp.StatusCode {
			case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			default:
				return nil, e
			}
			var hinted bool
			wait, hinted = retryafter.Parse(resp.Header, c.now())
			if !hinted {
				wait = backoff(attempt)
			}
		}
		e.RetryAfter = max(wait, time.Millisecond)
		if c.maxWait <= 0 || attempt > maxRetries || waited+wait > c.maxWait {
			c.log.WarnContext(ctx, "graph: giving up retrying", append(logAttrs,
				"waitedMs", waited.Milliseconds(), "nextWaitMs", wait.Milliseconds(), "error", e)...)
			return nil, e
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			// Waiting would only end in the context's deadline; say why
			// instead.
			c.log.InfoContext(ctx, "graph: no time left to wait for a retry", append(logAttrs,
				"nextWaitMs", wait.Milliseconds(), "error", e)...)
			return nil, e
		}
		c.log.InfoContext(ctx, "graph: waiting to retry", append(logAttrs,
			"status", e.Status, "waitMs", wait.Milliseconds(), "requestId", e.RequestID)...)
		if err := c.sleep(ctx, wait); err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, e
		}
		waited += wait
		e = nil
	}
}

// bearerToken is the token of an Authorization header, for redaction.
func bearerToken(h string) string {
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// errBodyTooLarge ends reading a success body past maxBody.
var errBodyTooLarge = errors.New("the response is larger than 16 MiB")

// limitedBody fails a read past left bytes, since kiota reads a whole body
// into memory.
type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, errBodyTooLarge
	}
	return n, err
}

// backoff is the wait before retry n (1-based) when the server named none:
// exponential, capped, with jitter between half and all of it.
func backoff(n int) time.Duration {
	d := backoffCap
	if n <= 5 { // 1s<<5 = 32s is past the cap already
		d = min(backoffBase<<(n-1), backoffCap)
	}
	half := d / 2
	return half + time.Duration(randv2.Int64N(int64(half)+1))
}
