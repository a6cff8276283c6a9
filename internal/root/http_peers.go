package root

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/pki"
)

// This file is the API of peer identity: join tokens (create, list,
// revoke) and the deletion of nodes and clusters. See
// docs/adr/011-peer-identity.md.

// tokenBody is the body of POST /api/tokens/. Ranges are checked by the
// auth service, which names the field in a 400.
type tokenBody struct {
	Kind       string `json:"kind" enum:"cluster,worker"`
	TTLSeconds int64  `json:"ttl_seconds,omitempty" doc:"lifetime in seconds: 0 means 86400 (24 h); at most 2592000 (30 days)"`
	MaxUses    int    `json:"max_uses,omitempty" doc:"joins the token admits: 1 is single-use; 0 means any number until it expires; at most 10000"`
	Cluster    string `json:"cluster,omitempty" maxLength:"253" doc:"worker tokens only: admit workers at the cluster of this name only; empty means every cluster"`
}

func tokenView(tok string, info auth.JoinTokenInfo) api.JoinToken {
	return api.JoinToken{
		Token: tok, ID: info.ID, Kind: info.Kind, Cluster: info.Cluster, Uses: info.Uses, MaxUses: info.MaxUses,
		CreatedAt: info.CreatedAt, ExpiresAt: info.ExpiresAt,
	}
}

func (r *Root) registerTokens(a huma.API) {
	tags := []string{"infrastructure"}
	huma.Register(a, huma.Operation{
		OperationID: "create-join-token", Method: http.MethodPost, Path: "/api/tokens/", Tags: tags,
		Summary: "Create a join token (Admin)", Security: secured,
		Description: "A `cluster` token lets a cluster join this root; a `worker` token lets a worker join any cluster of this root, " +
			"or only the cluster named in `cluster`. A token expires after `ttl_seconds` (default 24 h, at most 30 days) and admits " +
			"at most `max_uses` joins (1: single use; 0: any number until it expires). It is shown once, in this answer, and stored hashed; " +
			"`id` names it in listings and to revoke it.",
	}, func(ctx context.Context, in *struct{ Body tokenBody }) (*struct{ Body api.JoinToken }, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		if in.Body.TTLSeconds < 0 || in.Body.TTLSeconds > int64(auth.MaxJoinTTL/time.Second) {
			return nil, huma.Error400BadRequest("ttl_seconds: want 0 (24 h) up to 2592000 (30 days)")
		}
		tok, info, err := r.cfg.Auth.IssueJoinToken(auth.JoinTokenSpec{
			Kind: in.Body.Kind, TTL: time.Duration(in.Body.TTLSeconds) * time.Second,
			MaxUses: in.Body.MaxUses, Cluster: in.Body.Cluster,
		})
		if err != nil {
			return nil, apiError(err)
		}
		jt := tokenView(tok, info)
		if r.cfg.CA != nil {
			jt.CAPin = r.cfg.CA.Pin()
			jt.Token = pki.JoinToken(jt.CAPin, tok)
		}
		return &struct{ Body api.JoinToken }{Body: jt}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-join-tokens", Method: http.MethodGet, Path: "/api/tokens/", Tags: tags,
		Summary: "List join tokens (Admin)", Security: secured,
		Description: "The tokens that have not expired, oldest first: id, kind, scope, uses and expiry. The tokens themselves are never shown again.",
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body []api.JoinToken }, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		infos, err := r.cfg.Auth.ListJoinTokens()
		if err != nil {
			return nil, apiError(err)
		}
		out := make([]api.JoinToken, len(infos))
		for i, info := range infos {
			out[i] = tokenView("", info)
		}
		return &struct{ Body []api.JoinToken }{Body: out}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "revoke-join-token", Method: http.MethodDelete, Path: "/api/tokens/{id}", Tags: tags,
		Summary: "Revoke a join token (Admin)", Security: secured,
		Description: "Every join with the token is refused from now on, at every cluster (clusters ask the root for each worker join). " +
			"Peers that already joined with it keep their own credentials.",
	}, func(ctx context.Context, in *struct {
		ID string `path:"id" maxLength:"64"`
	}) (*messageOutput, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		if err := r.cfg.Auth.RevokeJoinToken(in.ID); err != nil {
			return nil, apiError(err)
		}
		return message("join token %s revoked", in.ID), nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "delete-node", Method: http.MethodDelete, Path: "/api/nodes/{id}", Tags: tags,
		Summary: "Delete a node (Admin)", Security: secured,
		Description: "Its cluster revokes the worker's credential (its next request gets 401, and it stops the instances it ran), " +
			"forgets it, and places its instances on other nodes. The order reaches the cluster with its next desired set, " +
			"at once while it is connected. `id` may be the node's id or name. To join again, the worker needs a new join token.",
	}, func(ctx context.Context, in *struct {
		ID string `path:"id" maxLength:"253"`
	}) (*messageOutput, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		n, err := r.DeleteNode(in.ID)
		if err != nil {
			return nil, apiError(err)
		}
		return message("node %s deleted", n.Name), nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "delete-cluster", Method: http.MethodDelete, Path: "/api/clusters/{id}", Tags: tags,
		Summary: "Delete a cluster (Admin)", Security: secured,
		Description: "Revokes the cluster's credential at once (its next request gets 401, and it stops what its workers run), " +
			"forgets it, and places its instances on other clusters. `id` may be the cluster's id or name. " +
			"To join again, the cluster needs a new join token.",
	}, func(ctx context.Context, in *struct {
		ID string `path:"id" maxLength:"253"`
	}) (*messageOutput, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		c, err := r.DeleteCluster(in.ID)
		if err != nil {
			return nil, apiError(err)
		}
		return message("cluster %s deleted", c.Name), nil
	})
}
