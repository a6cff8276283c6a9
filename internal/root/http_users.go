package root

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
)

// This file serves users and organizations as Oakestra's dashboard uses
// them. Admin manages everyone; an Organization_Admin manages the users and
// organizations it shares an organization with; every user reads and
// changes itself (roles excepted).

type userPath struct {
	Name string `path:"name" maxLength:"64"`
}

func userView(u auth.User) api.User {
	return api.User{Username: u.Name, Name: u.Name, OID: api.OID{OID: u.Name}, Email: u.Email, Roles: u.Roles, CreatedAt: u.CreatedAt}
}

func orgView(o auth.Organization) api.Organization {
	return api.Organization{OID: api.OID{OID: o.ID}, ID: o.ID, Name: o.Name, Members: o.Members, CreatedAt: o.CreatedAt}
}

// roleNames reads roles as names or as Oakestra's {"name": ...} objects.
func roleNames(field string, roles []any) ([]string, error) {
	if roles == nil {
		return nil, nil
	}
	out := make([]string, 0, len(roles))
	for i, r := range roles {
		switch v := r.(type) {
		case string:
			out = append(out, v)
		case map[string]any:
			if n, ok := v["name"].(string); ok {
				out = append(out, n)
				continue
			}
			return nil, huma.Error400BadRequest(fmt.Sprintf("%s[%d].name: required, a role name", field, i))
		default:
			return nil, huma.Error400BadRequest(fmt.Sprintf("%s[%d]: want a role name or {\"name\": role}", field, i))
		}
	}
	return out, nil
}

// manages reports whether the caller may manage user (see the file comment).
func (r *Root) manages(ctx context.Context, user string) bool {
	c, _ := ctx.Value(claimsKey{}).(auth.Claims)
	if c.IsAdmin() {
		return true
	}
	if !c.HasRole(auth.RoleOrgAdmin) {
		return false
	}
	orgs, err := r.cfg.Auth.OrganizationsOf(c.Subject)
	if err != nil {
		return false
	}
	for _, o := range orgs {
		if o.HasMember(user) {
			return true
		}
	}
	return false
}

func (r *Root) mayRead(ctx context.Context, user string) error {
	if caller(ctx).User == user || r.manages(ctx, user) {
		return nil
	}
	return huma.Error403Forbidden("name: you may only see yourself and the users you manage")
}

func (r *Root) registerUsers(a huma.API) {
	tags := []string{"users"}
	huma.Register(a, huma.Operation{
		OperationID: "register-user", Method: http.MethodPost, Path: "/api/auth/register", Tags: tags,
		Summary: "Register a user (Admin)", Security: secured,
		Description: "Oakestra's form of POST /api/user/: `{name, password, email, roles}`; no roles means Application_Provider.",
	}, func(ctx context.Context, in *struct{ Body api.RegisterRequest }) (*struct{ Body api.User }, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		roles, err := roleNames("roles", in.Body.Roles)
		if err != nil {
			return nil, err
		}
		if err := r.cfg.Auth.CreateUser(in.Body.Name, in.Body.Password, roles); err != nil {
			return nil, apiError(err)
		}
		u, err := r.cfg.Auth.UpdateUser(in.Body.Name, &in.Body.Email, nil)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body api.User }{Body: userView(u)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-users", Method: http.MethodGet, Path: "/api/users/", Tags: tags,
		Summary: "List users", Security: secured,
		Description: "Admin sees every user, an Organization_Admin the members of its organizations.",
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body []api.User }, error) {
		c, _ := ctx.Value(claimsKey{}).(auth.Claims)
		if !c.IsAdmin() && !c.HasRole(auth.RoleOrgAdmin) {
			return nil, huma.Error403Forbidden("this needs the Admin or Organization_Admin role")
		}
		us, err := r.cfg.Auth.ListUsers()
		if err != nil {
			return nil, apiError(err)
		}
		out := []api.User{}
		for _, u := range us {
			if r.manages(ctx, u.Name) {
				out = append(out, userView(u))
			}
		}
		return &struct{ Body []api.User }{Body: out}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "get-user", Method: http.MethodGet, Path: "/api/user/{name}", Tags: tags,
		Summary: "Get a user", Security: secured,
	}, func(ctx context.Context, in *userPath) (*struct{ Body api.User }, error) {
		if err := r.mayRead(ctx, in.Name); err != nil {
			return nil, err
		}
		u, err := r.cfg.Auth.GetUser(in.Name)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body api.User }{Body: userView(u)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "update-user", Method: http.MethodPut, Path: "/api/user/{name}", Tags: tags,
		Summary: "Update a user", Security: secured,
		Description: "Sets `email` and `roles` (fields left out are kept). A user may change its own e-mail; roles, and other users, " +
			"need Admin or an Organization_Admin of a shared organization, who cannot grant Admin.",
	}, func(ctx context.Context, in *struct {
		Name string `path:"name" maxLength:"64"`
		Body api.UpdateUserRequest
	}) (*struct{ Body api.User }, error) {
		if err := r.mayRead(ctx, in.Name); err != nil {
			return nil, err
		}
		roles, err := roleNames("roles", in.Body.Roles)
		if err != nil {
			return nil, err
		}
		c, _ := ctx.Value(claimsKey{}).(auth.Claims)
		switch {
		case roles != nil && !r.manages(ctx, in.Name):
			return nil, huma.Error403Forbidden("roles: only Admin or an Organization_Admin of your organization may change roles")
		case roles != nil && !c.IsAdmin() && slices.Contains(roles, auth.RoleAdmin):
			return nil, huma.Error403Forbidden("roles: only Admin may grant Admin")
		}
		u, err := r.cfg.Auth.UpdateUser(in.Name, in.Body.Email, roles)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body api.User }{Body: userView(u)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "change-password", Method: http.MethodPost, Path: "/api/user/{name}", Tags: tags,
		Summary: "Change a password", Security: secured,
		Description: "`{oldPassword, newPassword}`: a user changes its own password, proving the old one. Refresh tokens issued before stop working.",
	}, func(ctx context.Context, in *struct {
		Name string `path:"name" maxLength:"64"`
		Body api.ChangePasswordRequest
	}) (*messageOutput, error) {
		if caller(ctx).User != in.Name {
			return nil, huma.Error403Forbidden("name: you may change only your own password")
		}
		if err := r.cfg.Auth.ChangePassword(in.Name, in.Body.OldPassword, in.Body.NewPassword); err != nil {
			if errors.Is(err, auth.ErrUnauthorized) {
				return nil, huma.Error401Unauthorized("oldPassword: wrong password")
			}
			return nil, apiError(err)
		}
		return message("password of %s changed", in.Name), nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "get-permission", Method: http.MethodGet, Path: "/api/permission/{name}", Tags: tags,
		Summary: "What a user may do", Security: secured,
	}, func(ctx context.Context, in *userPath) (*struct{ Body api.Permission }, error) {
		if err := r.mayRead(ctx, in.Name); err != nil {
			return nil, err
		}
		u, err := r.cfg.Auth.GetUser(in.Name)
		if err != nil {
			return nil, apiError(err)
		}
		orgs, err := r.cfg.Auth.OrganizationsOf(in.Name)
		if err != nil {
			return nil, apiError(err)
		}
		p := api.Permission{Name: u.Name, Roles: u.Roles, Admin: u.HasRole(auth.RoleAdmin), Organizations: []string{}}
		for _, o := range orgs {
			p.Organizations = append(p.Organizations, o.Name)
		}
		return &struct{ Body api.Permission }{Body: p}, nil
	})
	r.registerQuota(a)
	r.registerAllowList(a)
	r.registerOrganizations(a)
}

// quotaView is a user's quota and what the user holds against it.
type quotaView struct {
	User  string     `json:"user"`
	Quota auth.Quota `json:"quota"`
	Usage auth.Quota `json:"usage"`
}

func (r *Root) quotaView(name string, q auth.Quota) quotaView {
	r.mu.Lock()
	defer r.mu.Unlock()
	return quotaView{User: name, Quota: q, Usage: r.usageLocked(r.userID(name))}
}

func (r *Root) registerQuota(a huma.API) {
	tags := []string{"users"}
	huma.Register(a, huma.Operation{
		OperationID: "get-quota", Method: http.MethodGet, Path: "/api/user/{name}/quota", Tags: tags,
		Summary: "A user's quota and usage", Security: secured,
		Description: "What the user's services may hold at once (instances, services, vcpus, memory_mb) and what they hold now. " +
			"A user without a quota of its own has the default: 1000 instances, 200 services, 4096 cores, 16 TiB.",
	}, func(ctx context.Context, in *userPath) (*struct{ Body quotaView }, error) {
		if err := r.mayRead(ctx, in.Name); err != nil {
			return nil, err
		}
		q, err := r.cfg.Auth.QuotaOf(in.Name)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body quotaView }{Body: r.quotaView(in.Name, q)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "set-quota", Method: http.MethodPut, Path: "/api/user/{name}/quota", Tags: tags,
		Summary: "Set a user's quota (Admin)", Security: secured,
		Description: "Submits, added services, scaling and added instances that would pass it are refused with 403 naming the quota. " +
			"Lowering it removes nothing.",
	}, func(ctx context.Context, in *struct {
		Name string `path:"name" maxLength:"64"`
		Body auth.Quota
	}) (*struct{ Body quotaView }, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		q, err := r.cfg.Auth.SetQuota(in.Name, &in.Body)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body quotaView }{Body: r.quotaView(in.Name, q)}, nil
	})
}

func (r *Root) registerOrganizations(a huma.API) {
	tags := []string{"users"}
	type orgPath struct {
		ID string `path:"id" maxLength:"64"`
	}
	// mayManageOrg: Admin, or an Organization_Admin who is a member.
	mayManageOrg := func(ctx context.Context, o auth.Organization) bool {
		c, _ := ctx.Value(claimsKey{}).(auth.Claims)
		return c.IsAdmin() || (c.HasRole(auth.RoleOrgAdmin) && o.HasMember(c.Subject))
	}
	huma.Register(a, huma.Operation{
		OperationID: "list-organizations", Method: http.MethodGet, Path: "/api/organization/", Tags: tags,
		Summary: "List organizations", Security: secured,
		Description: "Admin sees every organization; other users the ones they belong to.",
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body []api.Organization }, error) {
		who := caller(ctx)
		all, err := r.cfg.Auth.ListOrganizations()
		if err != nil {
			return nil, apiError(err)
		}
		out := []api.Organization{}
		for _, o := range all {
			if who.Admin || o.HasMember(who.User) {
				out = append(out, orgView(o))
			}
		}
		return &struct{ Body []api.Organization }{Body: out}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "create-organization", Method: http.MethodPost, Path: "/api/organization/", Tags: tags,
		Summary: "Create an organization (Admin)", Security: secured,
	}, func(ctx context.Context, in *struct{ Body api.OrganizationRequest }) (*struct{ Body api.Organization }, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		o, err := r.cfg.Auth.CreateOrganization(in.Body.Name, in.Body.Members)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body api.Organization }{Body: orgView(o)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "update-organization", Method: http.MethodPut, Path: "/api/organization/{id}", Tags: tags,
		Summary: "Rename an organization or set its members", Security: secured,
		Description: "Admin, or an Organization_Admin of this organization. `members` replaces the list when given.",
	}, func(ctx context.Context, in *struct {
		ID   string `path:"id" maxLength:"64"`
		Body api.OrganizationRequest
	}) (*struct{ Body api.Organization }, error) {
		o, err := r.cfg.Auth.GetOrganization(in.ID)
		if err != nil {
			return nil, apiError(err)
		}
		if !mayManageOrg(ctx, o) {
			return nil, huma.Error403Forbidden("this needs Admin, or Organization_Admin of this organization")
		}
		o, err = r.cfg.Auth.UpdateOrganization(o.ID, in.Body.Name, in.Body.Members)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body api.Organization }{Body: orgView(o)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "delete-organization", Method: http.MethodDelete, Path: "/api/organization/{id}", Tags: tags,
		Summary: "Delete an organization (Admin)", Security: secured,
	}, func(ctx context.Context, in *orgPath) (*messageOutput, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		if err := r.cfg.Auth.DeleteOrganization(in.ID); err != nil {
			return nil, apiError(err)
		}
		return message("organization %s deleted", in.ID), nil
	})
}
