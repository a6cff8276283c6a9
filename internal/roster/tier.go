package roster

import (
	"log/slog"
	"time"

	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/placement"
)

// Tier is what the root and a cluster both build to serve the tier below
// them: the roster of its peers, their credentials, the link server, the
// placement framework and loop, and the epoch of this run.
type Tier[M Member] struct {
	Roster *Roster[M]
	Creds  *auth.Credentials
	Server *link.Server
	FW     *placement.Framework
	Loop   *Loop
	// Epoch tells this run's revisions of desired sets from an earlier
	// run's (NewDesired).
	Epoch uint64
}

// TierConfig configures NewTier: the roster's Config (whose Creds NewTier
// builds) and what else differs between the root and a cluster.
type TierConfig[M Member] struct {
	Config[M]
	// CredsBucket is where the peers' credentials are stored.
	CredsBucket string
	// Level is the placement level of the tier's framework.
	Level placement.Level
	// Upper is the tier itself, which the link server serves.
	Upper link.Upper
}

// Defaults fills a tier's unset logger, clock and peer timeout (with
// timeout), which the tier passes on to NewTier and uses itself.
func Defaults(log **slog.Logger, now *func() time.Time, timeout *time.Duration, def time.Duration) {
	if *log == nil {
		*log = slog.New(slog.DiscardHandler)
	}
	if *now == nil {
		*now = time.Now
	}
	if *timeout <= 0 {
		*timeout = def
	}
}

// NewTier builds a tier's roster, credentials, link server, placement
// framework and loop. The config's Logger, Now and Timeout must be set
// (Defaults).
func NewTier[M Member](cfg TierConfig[M]) *Tier[M] {
	cfg.Creds = auth.NewCredentials(cfg.Store, cfg.CredsBucket)
	return &Tier[M]{
		Roster: New(cfg.Config),
		Creds:  cfg.Creds,
		Server: link.NewServer(cfg.Upper, cfg.Logger),
		FW:     placement.New(cfg.Level),
		Loop:   NewLoop(),
		Epoch:  uint64(cfg.Now().UnixNano()),
	}
}
