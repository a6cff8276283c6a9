package root

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/audit"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/console"
	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/sla"
)

// Version is reported by /api/health; cmd/hedge sets it at build time.
var Version = "dev"

type claimsKey struct{}

// bearer is the name of the security scheme every protected operation uses.
const bearer = "bearer"

var secured = []map[string][]string{{bearer: {}}}

// Handler returns the root's HTTP handler: the REST API under /api/, its
// OpenAPI document at /api/openapi.json and docs at /api/docs, the web
// console at / (internal/console), and the link that clusters dial under
// /link/v1/.
func (r *Root) Handler() http.Handler {
	mux := http.NewServeMux()
	cfg := huma.DefaultConfig("Hedge API", Version)
	cfg.Info.Description = "Hedge, a hierarchical edge orchestrator. Log in with POST /api/auth/login and send the token as `Authorization: Bearer <token>`."
	cfg.OpenAPIPath = "/api/openapi"
	cfg.DocsPath = "/api/docs"
	cfg.SchemasPath = "/api/schemas"
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		bearer: {Type: "http", Scheme: "bearer", BearerFormat: "JWT"},
	}
	a := humago.New(mux, cfg)
	log := audit.New(r.cfg.Store, 0)
	a.UseMiddleware(r.authenticate(a, log))
	r.registerAuth(a)
	r.registerAudit(a, log)
	r.registerApps(a)
	r.registerInfra(a)
	r.registerNetwork(a)
	r.registerTopology(a)
	r.registerConsole(a)
	r.kube.register(mux, r)
	if c, err := console.New(); err != nil {
		r.log.Error("web console unavailable", "err", err)
	} else {
		mux.Handle("GET /{$}", c)
		mux.Handle("GET /assets/", c)
	}
	mux.Handle("/link/v1/", r.server.Handler())
	return mux
}

// authenticate checks the bearer token of every operation that declares the
// bearer security scheme, puts the caller's claims in the context, and
// records the changes of authenticated callers in the audit log.
func (r *Root) authenticate(a huma.API, log *audit.Log) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		var forwarded []string
		ctx.EachHeader(func(name, value string) {
			if strings.EqualFold(name, "X-Forwarded-For") {
				forwarded = append(forwarded, value)
			}
		})
		remote := r.cfg.Auth.ClientAddress(ctx.RemoteAddr(), forwarded)
		ctx = huma.WithValue(ctx, remoteKey{}, remote)
		op := ctx.Operation()
		if op == nil || len(op.Security) == 0 {
			next(ctx)
			return
		}
		tok, ok := strings.CutPrefix(ctx.Header("Authorization"), "Bearer ")
		if !ok || tok == "" {
			_ = huma.WriteErr(a, ctx, http.StatusUnauthorized, "missing bearer token: log in with POST /api/auth/login")
			return
		}
		claims, err := r.cfg.Auth.Verify(tok)
		if err != nil {
			_ = huma.WriteErr(a, ctx, http.StatusUnauthorized, "invalid or expired token")
			return
		}
		ctx = huma.WithValue(ctx, claimsKey{}, claims)
		next(ctx)
		r.recordChange(log, ctx, claims, remote)
	}
}

func caller(ctx context.Context) Caller {
	c, _ := ctx.Value(claimsKey{}).(auth.Claims)
	return Caller{User: c.Subject, UserID: c.UserID, Admin: c.IsAdmin()}
}

func requireAdmin(ctx context.Context) error {
	if !caller(ctx).Admin {
		return huma.Error403Forbidden("this needs the Admin role")
	}
	return nil
}

// apiError turns domain errors into HTTP errors at the edge.
func apiError(err error) error {
	var ve *sla.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ve):
		details := make([]error, len(ve.Problems))
		for i, p := range ve.Problems {
			details[i] = &huma.ErrorDetail{Location: p.Field, Message: p.Message}
		}
		return huma.Error400BadRequest(fmt.Sprintf("invalid descriptor: %d problem(s)", len(ve.Problems)), details...)
	case errors.Is(err, auth.ErrUnauthorized):
		return huma.Error401Unauthorized("invalid credentials")
	case errors.Is(err, auth.ErrRateLimited):
		return huma.Error429TooManyRequests("too many failed logins: wait a minute and try again")
	}
	// The handlers have no logger: internal errors go to the process's.
	return huma.NewError(errdefs.HTTP(slog.Default(), err))
}

// --- authentication and users ---

type loginBody struct {
	Username         string `json:"username" minLength:"1" maxLength:"64"`
	Password         string `json:"password" minLength:"1" maxLength:"1024"`
	OrganizationName string `json:"organization_name,omitempty" maxLength:"64" doc:"log in to this organization; the user must be a member"`
}

// tokenOutput answers login and refresh with the API's own type.
type tokenOutput struct{ Body api.TokenPair }

func tokenPair(p auth.TokenPair) *tokenOutput {
	return &tokenOutput{Body: api.TokenPair{Token: p.Token, RefreshToken: p.RefreshToken, ExpiresIn: p.ExpiresIn}}
}

type refreshBody struct {
	RefreshToken string `json:"refresh_token,omitempty" maxLength:"4096"`
}

type userBody struct {
	Username string   `json:"username" minLength:"1" maxLength:"64"`
	Password string   `json:"password" minLength:"8" maxLength:"1024"`
	Roles    []string `json:"roles,omitempty" maxItems:"8"`
}

func (r *Root) registerAuth(a huma.API) {
	huma.Register(a, huma.Operation{
		OperationID: "login", Method: http.MethodPost, Path: "/api/auth/login", Tags: []string{"auth"},
		Summary: "Log in", Description: "Exchanges a user name and password for an access token and a refresh token. Failed logins are limited per client address and per user and address (429); " +
			"a few password checks run at once, and a login beyond them is answered 429 with Retry-After.",
	}, func(ctx context.Context, in *struct{ Body loginBody }) (*tokenOutput, error) {
		remote := remoteFrom(ctx)
		pair, err := r.cfg.Auth.LoginOrgFrom(remote, in.Body.Username, in.Body.Password, in.Body.OrganizationName)
		switch {
		case errors.Is(err, auth.ErrBusy):
			return nil, retryLater("too many logins at once: retry shortly", err)
		case errors.Is(err, auth.ErrRateLimited):
			return nil, retryLater(fmt.Sprintf("too many failed logins: retry in %s", auth.RetryAfter(err).Round(time.Second)), err)
		}
		if err != nil {
			return nil, apiError(err)
		}
		return tokenPair(pair), nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "refresh", Method: http.MethodPost, Path: "/api/auth/refresh", Tags: []string{"auth"},
		Summary: "Refresh the access token", Description: "Takes a refresh token (in the body, or as the bearer token) and returns a new token pair.",
	}, func(ctx context.Context, in *struct {
		Authorization string       `header:"Authorization"`
		Body          *refreshBody `required:"false"`
	}) (*tokenOutput, error) {
		tok := ""
		if in.Body != nil {
			tok = in.Body.RefreshToken
		}
		if tok == "" {
			tok, _ = strings.CutPrefix(in.Authorization, "Bearer ")
		}
		if tok == "" {
			return nil, huma.Error400BadRequest("refresh_token: required")
		}
		pair, err := r.cfg.Auth.Refresh(tok)
		if err != nil {
			return nil, huma.Error401Unauthorized("invalid or expired refresh token")
		}
		return tokenPair(pair), nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "logout", Method: http.MethodPost, Path: "/api/auth/logout", Tags: []string{"auth"},
		Summary: "Log out", Description: "Ends the session of a refresh token (in the body): it and every token refreshed from it stop working. Access tokens already issued run out within their short lifetime.",
		DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, in *struct{ Body refreshBody }) (*struct{}, error) {
		if in.Body.RefreshToken == "" {
			return nil, huma.Error400BadRequest("refresh_token: required")
		}
		if err := r.cfg.Auth.RevokeRefresh(in.Body.RefreshToken); err != nil {
			return nil, huma.Error401Unauthorized("invalid or expired refresh token")
		}
		return nil, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "health", Method: http.MethodGet, Path: "/api/health", Tags: []string{"system"},
		Summary: "Health", Description: "Answers without authentication so load balancers can probe it.",
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body api.Health }, error) {
		return &struct{ Body api.Health }{Body: api.Health{Status: "ok", Version: Version}}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "create-user", Method: http.MethodPost, Path: "/api/user/", Tags: []string{"users"},
		Summary: "Create a user (Admin)", Security: secured,
	}, func(ctx context.Context, in *struct{ Body userBody }) (*struct{ Body api.User }, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		roles := in.Body.Roles
		if len(roles) == 0 {
			roles = []string{auth.RoleAppProvider}
		}
		if err := r.cfg.Auth.CreateUser(in.Body.Username, in.Body.Password, roles); err != nil {
			return nil, apiError(err)
		}
		u, err := r.cfg.Auth.GetUser(in.Body.Username)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body api.User }{Body: userView(u)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "delete-user", Method: http.MethodDelete, Path: "/api/user/{username}", Tags: []string{"users"},
		Summary: "Delete a user (Admin)", Security: secured,
	}, func(ctx context.Context, in *struct {
		Username string `path:"username" maxLength:"64"`
	}) (*messageOutput, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		if in.Username == auth.AdminUser {
			return nil, huma.Error400BadRequest("username: the admin user cannot be deleted")
		}
		if err := r.cfg.Auth.DeleteUser(in.Username); err != nil {
			return nil, apiError(err)
		}
		return message("user %s deleted", in.Username), nil
	})
	r.registerUsers(a)
	r.registerTokens(a)
}

type remoteKey struct{}

// retryLater answers a refused login: 429 with Retry-After in whole
// seconds, rounded up.
func retryLater(detail string, err error) error {
	secs := int(math.Ceil(auth.RetryAfter(err).Seconds()))
	return huma.ErrorWithHeaders(huma.Error429TooManyRequests(detail),
		http.Header{"Retry-After": {strconv.Itoa(max(secs, 1))}})
}

// remoteFrom returns the client address the login rate limiter keys on.
func remoteFrom(ctx context.Context) string {
	if s, ok := ctx.Value(remoteKey{}).(string); ok {
		return s
	}
	return ""
}
