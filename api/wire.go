package api

import "time"

// Kinds of join token: which tier the token lets join.
const (
	TokenKindCluster = "cluster"
	TokenKindWorker  = "worker"
)

// LoginRequest is the body of POST /api/auth/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// OrganizationName logs in to an organization the user belongs to
	// (Oakestra's dashboard sends it when its organization toggle is on).
	OrganizationName string `json:"organization_name,omitempty"`
}

// RefreshRequest is the body of POST /api/auth/refresh.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// TokenPair is the answer of login and refresh: a short-lived access token
// for the Authorization header and a refresh token to get the next pair.
type TokenPair struct {
	Token        string `json:"token"`
	RefreshToken string `json:"refresh_token"`
	// ExpiresIn is the lifetime of Token in seconds.
	ExpiresIn int `json:"expires_in"`
}

// Health is the answer of GET /api/health.
type Health struct {
	Status  string `json:"status"`
	Version string `json:"version"`
}

// CreateUserRequest is the body of POST /api/user/.
type CreateUserRequest struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Roles    []string `json:"roles"`
}

// User is an account as the API shows it (never with its password).
type User struct {
	Username  string    `json:"username"`
	Roles     []string  `json:"roles"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	// OID and Name repeat Username under Oakestra's names.
	OID   OID    `json:"_id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// RegisterRequest is the body of POST /api/auth/register (Oakestra's form of
// creating a user). Roles are role names; Oakestra's {"name": ...} objects
// are accepted too.
type RegisterRequest struct {
	// Other fields (Oakestra's clients send whole records) are ignored.
	_        struct{} `json:"-" additionalProperties:"true"`
	Name     string   `json:"name"`
	Password string   `json:"password"`
	Email    string   `json:"email,omitempty"`
	Roles    []any    `json:"roles,omitempty"`
}

// UpdateUserRequest is the body of PUT /api/user/{name}; fields left out
// are kept.
type UpdateUserRequest struct {
	// Other fields (Oakestra's clients send whole records) are ignored.
	_     struct{} `json:"-" additionalProperties:"true"`
	Email *string  `json:"email,omitempty"`
	Roles []any    `json:"roles,omitempty"`
}

// ChangePasswordRequest is the body of POST /api/user/{name}.
type ChangePasswordRequest struct {
	OldPassword string `json:"oldPassword"`
	NewPassword string `json:"newPassword"`
}

// Permission is the answer of GET /api/permission/{name}: what the user may
// do, by role.
type Permission struct {
	Name          string   `json:"name"`
	Roles         []string `json:"roles"`
	Admin         bool     `json:"admin"`
	Organizations []string `json:"organizations"`
}

// Organization is a group of users (Oakestra's organizations).
type Organization struct {
	OID       OID       `json:"_id"`
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Members   []string  `json:"members"`
	CreatedAt time.Time `json:"created_at"`
}

// OrganizationRequest is the body of POST and PUT /api/organization/.
type OrganizationRequest struct {
	// Other fields (Oakestra's clients send whole records) are ignored.
	_       struct{} `json:"-" additionalProperties:"true"`
	Name    string   `json:"name,omitempty"`
	Members []string `json:"members,omitempty"`
}

// CreateTokenRequest is the body of POST /api/tokens/.
type CreateTokenRequest struct {
	Kind string `json:"kind"`
	// TTLSeconds is the token's lifetime; 0 leaves it to the server (24 h).
	TTLSeconds int64 `json:"ttl_seconds,omitempty"`
	// MaxUses bounds the joins the token admits (1: single use); 0 means
	// any number until it expires.
	MaxUses int `json:"max_uses,omitempty"`
	// Cluster scopes a worker token to the cluster of that name; empty
	// means every cluster of the root.
	Cluster string `json:"cluster,omitempty"`
}

// JoinToken lets a cluster (or worker) join the tier above it. Token is
// shown once, in the answer to its creation; listings leave it empty.
type JoinToken struct {
	// Token is what the peer passes to --join-token. When the root serves
	// TLS it is "sha256:<CA pin>::<secret>", so that it also tells the peer
	// which CA to trust (as a k3s token does). Shown once; listings leave it
	// empty.
	Token string `json:"token,omitempty"`
	// CAPin is the pin of the root's CA ("sha256:<hex>"), also part of Token.
	CAPin string `json:"ca_pin,omitempty"`
	// ID names the token in listings and to revoke it.
	ID        string    `json:"id,omitempty"`
	Kind      string    `json:"kind"`
	Cluster   string    `json:"cluster,omitempty"`
	Uses      int       `json:"uses"`
	MaxUses   int       `json:"max_uses,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at"`
}

// SubmitResult is the answer of POST /api/application/: what the SLA created.
type SubmitResult struct {
	Applications []Application `json:"applications"`
	Services     []Service     `json:"services"`
}

// AddServicesRequest is the body of POST /api/service/: more microservices
// for an existing application.
type AddServicesRequest struct {
	ApplicationID string        `json:"applicationID"`
	Microservices []ServiceSpec `json:"microservices"`
}

// ScaleRequest is the body of PUT /api/service/{id}/scale.
type ScaleRequest struct {
	Instances int `json:"instances"`
}

// Message is the answer of every DELETE (and of a password change): 200 with
// what was done, as Oakestra's root answers and its CLI expects.
type Message struct {
	Message string `json:"message"`
}
