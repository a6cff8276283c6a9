package kube

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/errdefs"
)

// APIOptions tie the operations to the root's API.
type APIOptions struct {
	// Security is every operation's security requirement: the root's
	// bearer scheme, which its middleware checks.
	Security []map[string][]string
	// RequireAdmin returns an HTTP error unless the caller is an admin.
	RequireAdmin func(ctx context.Context) error
	// Viewer returns who calls, for what they may see of enablers; the
	// zero Viewer (no values shown) when nil.
	Viewer func(ctx context.Context) Viewer
	// Logger logs internal errors under the request id their answer
	// names; slog.Default() when nil.
	Logger *slog.Logger
}

// Register adds the Kubernetes cluster, chart repository and enabler
// operations to a, under the Smart Orchestrator's paths. Reads need a
// logged-in user; changes need the Admin role.
func Register(a huma.API, m *Manager, o APIOptions) {
	admin := func(ctx context.Context) error {
		if o.RequireAdmin == nil {
			return nil
		}
		return o.RequireAdmin(ctx)
	}
	viewer := func(ctx context.Context) Viewer {
		if o.Viewer == nil {
			return Viewer{}
		}
		return o.Viewer(ctx)
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	apiError := func(err error) error { return apiError(log, err) }
	ct := []string{"kubernetes"}
	op := func(id, method, path, summary, desc string, tags []string) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Description: desc, Tags: tags, Security: o.Security}
	}
	huma.Register(a, op("add-k8s-cluster", http.MethodPost, "/api/k8sclusters/", "Register a Kubernetes cluster (Admin)",
		"`credentials` is a kubeconfig (an object, or YAML text). It is checked at once: one Hedge cannot use (no server, "+
			"file paths, exec plugins) is refused and nothing is registered. It is stored encrypted and never returned. "+
			"At most one cluster may be `cloud`; automatic placement leaves it out unless asked for. The cluster then "+
			"appears in GET /api/clusters/ and takes Hedge container services as Deployments.", ct),
		func(ctx context.Context, in *struct{ Body api.KubeClusterRequest }) (*struct{ Body api.KubeCluster }, error) {
			if err := admin(ctx); err != nil {
				return nil, err
			}
			c, err := m.AddCluster(ctx, in.Body)
			return &struct{ Body api.KubeCluster }{Body: c}, apiError(err)
		})
	huma.Register(a, op("list-k8s-clusters", http.MethodGet, "/api/k8sclusters/", "List Kubernetes clusters",
		"Status is Pending, Enabled, Degraded (some nodes NotReady) or Error (unreachable, credentials refused); `reason` says why.", ct),
		func(ctx context.Context, _ *struct{}) (*struct{ Body []api.KubeCluster }, error) {
			return &struct{ Body []api.KubeCluster }{Body: m.Clusters()}, nil
		})
	huma.Register(a, op("delete-k8s-cluster", http.MethodDelete, "/api/k8sclusters/{id}", "Forget a Kubernetes cluster (Admin)",
		"Hedge services placed there are placed again elsewhere; what runs on the cluster is not touched. Refused while enablers are installed there.", ct),
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64"`
		}) (*struct{}, error) {
			if err := admin(ctx); err != nil {
				return nil, err
			}
			return nil, apiError(m.DeleteCluster(ctx, in.ID))
		})
	huma.Register(a, op("list-k8s-nodes", http.MethodGet, "/api/k8sclusters/node/{clusterid}", "List a Kubernetes cluster's nodes",
		"Labels, taints, capacity, allocatable and what the running pods request (cpu in cores, memory in MB).", ct),
		func(ctx context.Context, in *struct {
			ID string `path:"clusterid" maxLength:"64"`
		}) (*struct{ Body []api.KubeNode }, error) {
			ns, err := m.Nodes(ctx, in.ID)
			return &struct{ Body []api.KubeNode }{Body: ns}, apiError(err)
		})

	rt := []string{"chart repositories"}
	huma.Register(a, op("add-chart-repo", http.MethodPost, "/api/chartrepo", "Add a Helm chart repository (Admin)",
		"Public, or private with username and password (HTTP basic auth; the password is stored encrypted). Its index.yaml is read at once.", rt),
		func(ctx context.Context, in *struct{ Body api.ChartRepoRequest }) (*struct{ Body api.ChartRepo }, error) {
			if err := admin(ctx); err != nil {
				return nil, err
			}
			r, err := m.AddRepo(ctx, in.Body)
			return &struct{ Body api.ChartRepo }{Body: publicRepo(r)}, apiError(err)
		})
	huma.Register(a, op("list-chart-repos", http.MethodGet, "/api/chartrepo", "List chart repositories",
		"Credentials written into a URL (`user:pass@`) are shown redacted, to everyone.", rt),
		func(ctx context.Context, _ *struct{}) (*struct{ Body []api.ChartRepo }, error) {
			rs, err := m.Repos()
			for i := range rs {
				rs[i] = publicRepo(rs[i])
			}
			return &struct{ Body []api.ChartRepo }{Body: rs}, apiError(err)
		})
	huma.Register(a, op("update-chart-repo", http.MethodPut, "/api/chartrepo/{id}", "Update a chart repository (Admin)",
		"An empty password keeps the stored one (unless the username changes).", rt),
		func(ctx context.Context, in *struct {
			ID   string `path:"id" maxLength:"64"`
			Body api.ChartRepoRequest
		}) (*struct{ Body api.ChartRepo }, error) {
			if err := admin(ctx); err != nil {
				return nil, err
			}
			r, err := m.UpdateRepo(ctx, in.ID, in.Body)
			return &struct{ Body api.ChartRepo }{Body: publicRepo(r)}, apiError(err)
		})
	huma.Register(a, op("delete-chart-repo", http.MethodDelete, "/api/chartrepo/{id}", "Delete a chart repository (Admin)", "", rt),
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64"`
		}) (*struct{}, error) {
			if err := admin(ctx); err != nil {
				return nil, err
			}
			return nil, apiError(m.DeleteRepo(in.ID))
		})
	huma.Register(a, op("list-charts", http.MethodGet, "/api/chartrepo/{id}/charts", "List a repository's charts", "Read from its index.yaml, newest version first.", rt),
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64"`
		}) (*struct{ Body []api.Chart }, error) {
			cs, err := m.RepoCharts(ctx, in.ID)
			return &struct{ Body []api.Chart }{Body: cs}, apiError(err)
		})

	et := []string{"enablers"}
	type enablerOut struct{ Body api.Enabler }
	type idPath struct {
		ID string `path:"id" maxLength:"64"`
	}
	huma.Register(a, op("install-enabler", http.MethodPost, "/api/enabler/", "Install an enabler (a Helm release) (Admin)",
		"On `cluster`, or with `auto: true` on the Kubernetes cluster `placementPolicy` picks: worst-fit (default; most max_replicas), "+
			"best-fit (fewest that fit), most-traffic or traffic-most (highest receive rate). max_replicas is, over the schedulable "+
			"nodes, the sum of min(free cpu / demand cpu, free memory / demand memory); demand is the chart's summed requests. "+
			"The cloud cluster takes part only with `includeCloud`. The answer is INSTALLING, with `placement` explaining every "+
			"cluster's verdict; poll GET /api/enabler/{id} for DEPLOYED or FAILED (a failed install leaves nothing behind). "+
			"A chart that does not render is refused at once with Helm's message.", et),
		func(ctx context.Context, in *struct{ Body api.EnablerRequest }) (*enablerOut, error) {
			if err := admin(ctx); err != nil {
				return nil, err
			}
			e, err := m.InstallEnabler(ctx, in.Body, viewer(ctx))
			return &enablerOut{Body: e}, apiError(err)
		})
	huma.Register(a, op("list-enablers", http.MethodGet, "/api/enabler/instanced", "List enablers", valuesNote, et),
		func(ctx context.Context, _ *struct{}) (*struct{ Body []api.Enabler }, error) {
			es, err := m.Enablers("", viewer(ctx))
			return &struct{ Body []api.Enabler }{Body: es}, apiError(err)
		})
	huma.Register(a, op("get-enabler", http.MethodGet, "/api/enabler/{id}", "Get an enabler", valuesNote, et),
		func(ctx context.Context, in *idPath) (*enablerOut, error) {
			e, err := m.Enabler(in.ID, viewer(ctx))
			return &enablerOut{Body: e}, apiError(err)
		})
	huma.Register(a, op("upgrade-enabler", http.MethodPut, "/api/enabler/{id}", "Upgrade an enabler (Admin)",
		"New `version` and/or `additionalParams` (values); atomic: a failed upgrade rolls back and says why in `message`.", et),
		func(ctx context.Context, in *struct {
			ID   string `path:"id" maxLength:"64"`
			Body api.EnablerUpgrade
		}) (*enablerOut, error) {
			if err := admin(ctx); err != nil {
				return nil, err
			}
			e, err := m.UpgradeEnabler(ctx, in.ID, in.Body)
			return &enablerOut{Body: e}, apiError(err)
		})
	huma.Register(a, op("terminate-enabler", http.MethodPost, "/api/enabler/{id}/terminate", "Terminate an enabler (Admin)",
		"Uninstalls the release and keeps the record and the release's volume claims.", et),
		func(ctx context.Context, in *idPath) (*enablerOut, error) {
			if err := admin(ctx); err != nil {
				return nil, err
			}
			e, err := m.TerminateEnabler(ctx, in.ID)
			return &enablerOut{Body: e}, apiError(err)
		})
	huma.Register(a, op("delete-enabler", http.MethodDelete, "/api/enabler/{id}", "Delete an enabler (Admin)",
		"Uninstalls the release if needed, deletes its namespace and forgets it.", et),
		func(ctx context.Context, in *idPath) (*struct{}, error) {
			if err := admin(ctx); err != nil {
				return nil, err
			}
			return nil, apiError(m.DeleteEnabler(ctx, in.ID))
		})
	huma.Register(a, op("delete-enabler-volumes", http.MethodDelete, "/api/enabler/pv/{id}", "Delete an enabler's volumes (Admin)",
		"Deletes the PersistentVolumeClaims of a terminated enabler and the PersistentVolumes bound to them; answers their names.", et),
		func(ctx context.Context, in *idPath) (*struct{ Body []string }, error) {
			if err := admin(ctx); err != nil {
				return nil, err
			}
			names, err := m.DeleteEnablerVolumes(ctx, in.ID)
			return &struct{ Body []string }{Body: names}, apiError(err)
		})
	huma.Register(a, op("cluster-enablers", http.MethodGet, "/api/enabler/enabler_cluster/{name}", "List a cluster's enablers", valuesNote, et),
		func(ctx context.Context, in *struct {
			Name string `path:"name" maxLength:"64"`
		}) (*struct{ Body []api.Enabler }, error) {
			es, err := m.Enablers(in.Name, viewer(ctx))
			return &struct{ Body []api.Enabler }{Body: es}, apiError(err)
		})
}

// apiError turns domain errors into HTTP errors at the edge, with the one
// mapping of errdefs: an internal error is logged to log with a request id,
// never echoed.
func apiError(log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	return huma.NewError(errdefs.HTTP(log, err))
}
