package root

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/hedgeorch/hedge/internal/audit"
	"github.com/hedgeorch/hedge/internal/auth"
)

// recordChange appends an authenticated request that may change something
// (any method but GET, HEAD and OPTIONS) to the audit log, with the status
// it was answered. Request bodies are never recorded. Unauthenticated
// requests changed nothing and are not recorded, so they cannot push real
// entries out of the bounded log.
func (r *Root) recordChange(log *audit.Log, ctx huma.Context, claims auth.Claims, remote string) {
	switch ctx.Method() {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return
	}
	if op := ctx.Operation(); op != nil && op.Metadata[metaChangesNothing] == true {
		return
	}
	u := ctx.URL()
	status := ctx.Status()
	if status == 0 {
		status = http.StatusOK
	}
	e := audit.Entry{
		Time: r.cfg.Now().UTC(), User: claims.Subject, Method: ctx.Method(), Path: u.Path,
		Object: objectOf(ctx.Operation().Path, u.Path), Status: status, Remote: remote,
	}
	if _, err := log.Append(e); err != nil {
		r.log.Error("audit: append", "user", e.User, "method", e.Method, "path", e.Path, "err", err)
	}
}

// metaChangesNothing marks, in an operation's Metadata, a POST that
// changes nothing (POST /api/validate, which the console calls as the user
// types): it is not recorded.
const metaChangesNothing = "changes_nothing"

// objectOf returns the value of the last path parameter of template (as
// "/api/service/{id}/instance") in path, or "".
func objectOf(template, path string) string {
	ts := strings.Split(strings.Trim(template, "/"), "/")
	ps := strings.Split(strings.Trim(path, "/"), "/")
	obj := ""
	for i, t := range ts {
		if i < len(ps) && strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			obj = ps[i]
		}
	}
	return obj
}

type auditQuery struct {
	User   string `query:"user" maxLength:"64" doc:"only this user's entries"`
	Before uint64 `query:"before" doc:"only entries older than this seq: the previous page's next"`
	Limit  int    `query:"limit" minimum:"0" maximum:"1000" doc:"page size, 100 when 0"`
}

func (r *Root) registerAudit(a huma.API, log *audit.Log) {
	huma.Register(a, huma.Operation{
		OperationID: "list-audit", Method: http.MethodGet, Path: "/api/audit", Tags: []string{"system"},
		Summary: "Read the audit log (Admin)", Security: secured,
		Description: "Every change made through the API (method, path, object, status, user, client address, time), newest first. " +
			"Request bodies are never recorded. Pass `next` as `before` for the following page.",
	}, func(ctx context.Context, in *auditQuery) (*struct{ Body audit.Page }, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		p, err := log.List(audit.Query{User: in.User, Before: in.Before, Limit: in.Limit})
		if errors.Is(err, audit.ErrInvalid) {
			return nil, huma.Error400BadRequest(err.Error())
		}
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body audit.Page }{Body: p}, nil
	})
}
