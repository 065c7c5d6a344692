package consent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/identity"
	"github.com/seatsync/seatsync/shared/partnercenter"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// Validation is what checking a new connection's credentials found: one
// result per part the sync depends on.
type Validation struct {
	// Graph is listing the partner's GDAP customers through Microsoft Graph
	// (delegatedAdminCustomers): every partner needs it.
	Graph Part
	// PartnerCenter is listing the partner's customers through Partner
	// Center: needed for the billing facts of Direct CSP partners only.
	PartnerCenter Part
}

// Part is the result of checking one part.
type Part struct {
	// Checked is false when the part was not tried.
	Checked bool
	// Customers is how many customers the part listed.
	Customers int
	// Err is why it failed; nil when it worked.
	Err error
}

// Validator checks a just-consented refresh token of the partner tenant
// partnerTenantID by reading what the sync will read.
type Validator func(ctx context.Context, refreshToken seatsync.Secret, partnerTenantID string) Validation

// ValidatorOptions tune NewValidator; nil is fine for production.
type ValidatorOptions struct {
	// HTTPClient carries the Graph and Partner Center requests (nil: the
	// clients' defaults).
	HTTPClient *http.Client
	// Log receives the clients' records; nil discards them.
	Log *slog.Logger
	// MaxRetryWait bounds the waits on throttling and transient failures
	// of each part (default 10 s; negative: no retries). The partner admin
	// is looking at a loading page meanwhile.
	MaxRetryWait time.Duration
	// Timeout bounds each part (default 45 s).
	Timeout time.Duration
}

// NewValidator returns the production Validator: it redeems the refresh
// token at the partner's own tenant with idc, for Graph (at graphURL) and
// for Partner Center (at partnerCenterURL), and lists the customers of each.
// Rotated refresh tokens it receives are not stored: the platform keeps the
// stored one valid.
func NewValidator(idc *identity.Client, graphURL, partnerCenterURL string, opts *ValidatorOptions) (Validator, error) {
	if idc == nil {
		return nil, errors.New("consent: NewValidator needs an identity client")
	}
	var o ValidatorOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxRetryWait == 0 {
		o.MaxRetryWait = 10 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 45 * time.Second
	}
	// Check the URLs now, so that a bad setting fails at start, not at the
	// partner's first consent.
	probe := &memoryToken{}
	if _, err := graph.New(graphURL, probe, &graph.Options{HTTPClient: o.HTTPClient}); err != nil {
		return nil, err
	}
	if _, err := partnercenter.New(partnerCenterURL, probe, &partnercenter.Options{HTTPClient: o.HTTPClient}); err != nil {
		return nil, err
	}
	return func(ctx context.Context, rt seatsync.Secret, partnerTenantID string) Validation {
		var v Validation
		tokens, err := identity.NewTokens(idc, &memoryToken{rt: rt}, &identity.TokensOptions{SaveInterval: -1})
		if err != nil {
			v.Graph = Part{Checked: true, Err: err}
			return v
		}
		src := partnerTokens{tokens: tokens, tenant: partnerTenantID}

		v.Graph = checkPart(ctx, o.Timeout, func(ctx context.Context) (int, error) {
			g, err := graph.New(graphURL, src, &graph.Options{HTTPClient: o.HTTPClient, Log: o.Log, MaxRetryWait: o.MaxRetryWait})
			if err != nil {
				return 0, err
			}
			cs, err := g.DelegatedAdminCustomers(ctx)
			return len(cs), err
		})
		v.PartnerCenter = checkPart(ctx, o.Timeout, func(ctx context.Context) (int, error) {
			pc, err := partnercenter.New(partnerCenterURL, src, &partnercenter.Options{HTTPClient: o.HTTPClient, Log: o.Log, MaxRetryWait: o.MaxRetryWait})
			if err != nil {
				return 0, err
			}
			cs, err := pc.Customers(ctx)
			return len(cs), err
		})
		return v
	}, nil
}

func checkPart(ctx context.Context, timeout time.Duration, list func(context.Context) (int, error)) Part {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimedOut)
	defer cancel()
	n, err := list(ctx)
	if err != nil && context.Cause(ctx) == errTimedOut {
		err = fmt.Errorf("%w: %w", errTimedOut, err)
	}
	return Part{Checked: true, Customers: n, Err: err}
}

// errTimedOut marks a part that did not answer in time.
var errTimedOut = errors.New("no answer in time")

// partnerTokens sends the partner-level calls ("" tenant) to the partner's
// own tenant authority, which the id_token named.
type partnerTokens struct {
	tokens *identity.Tokens
	tenant string
}

func (p partnerTokens) AccessToken(ctx context.Context, tenantID, scope string) (seatsync.Secret, error) {
	if tenantID == "" {
		tenantID = p.tenant
	}
	return p.tokens.AccessToken(ctx, tenantID, scope)
}

// memoryToken is an identity.RefreshTokenStore holding one token in memory.
// It is also a do-nothing token source for checking the clients' URLs.
type memoryToken struct {
	mu sync.Mutex
	rt seatsync.Secret
}

func (m *memoryToken) Load(context.Context) (seatsync.Secret, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rt, nil
}

func (m *memoryToken) Save(_ context.Context, _, rt seatsync.Secret) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rt = rt
	return nil
}

func (m *memoryToken) AccessToken(context.Context, string, string) (seatsync.Secret, error) {
	return seatsync.Secret{}, errors.New("consent: no token")
}

// outcome turns a Validation into the connection's state: whether the
// credentials are validated, the status, and the problem to record (which may
// be set on a validated connection, for the optional part).
func (v Validation) outcome() (validated bool, status string, problem *seatsync.Problem) {
	g, pc := v.Graph, v.PartnerCenter
	var parts []string
	code := ""
	add := func(name string, err error) {
		parts = append(parts, name+": "+explain(err))
		if code == "" {
			code = seatsync.ErrorCode(err)
		}
	}
	switch {
	case !g.Checked:
		return false, seatsync.Connected, &seatsync.Problem{Code: "not_validated",
			Message: "The credentials were stored but not checked; the first sync will show whether they work."}
	case g.Err != nil:
		add("Microsoft Graph (listing your GDAP customers) failed", g.Err)
		if pc.Checked && pc.Err != nil {
			add("Partner Center (listing your customers) failed too", pc.Err)
		}
		return false, seatsync.Invalid, &seatsync.Problem{Code: code, Message: strings.Join(parts, " ")}
	case pc.Checked && pc.Err != nil && partnerCenterOptional(pc.Err):
		return true, seatsync.Connected, &seatsync.Problem{Code: seatsync.ErrorCode(pc.Err),
			Message: "Microsoft Graph works. Partner Center refused access, which matters only for Direct CSP partners (their subscription terms and billing details come from Partner Center): if you are one, give the consenting user the Admin agent role in Partner Center and grant consent again. " + explain(pc.Err)}
	case pc.Checked && pc.Err != nil:
		add("Microsoft Graph works, but Partner Center (listing your customers) failed", pc.Err)
		return false, seatsync.Invalid, &seatsync.Problem{Code: code, Message: strings.Join(parts, " ")}
	}
	return true, seatsync.Connected, nil
}

// partnerCenterOptional reports whether a Partner Center failure is the 403
// a partner that is not a Direct CSP partner gets.
func partnerCenterOptional(err error) bool {
	pe, ok := errors.AsType[*partnercenter.Error](err)
	return ok && pe.Kind() == partnercenter.KindForbidden
}

// explain says err in an MSP's words: the adapters' safe messages, or fixed
// words of ours; never an internal error's text.
func explain(err error) string {
	switch {
	case errors.Is(err, errTimedOut):
		return "Microsoft did not answer in time; try again later."
	case seatsync.ErrorCode(err) == seatsync.EInternal:
		return "An unexpected error occurred; the server log has the details."
	}
	m := seatsync.ErrorMessage(err)
	if m != "" && !strings.HasSuffix(m, ".") {
		m += "."
	}
	return capitalize(m)
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
