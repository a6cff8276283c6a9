package kube

import (
	"net/url"

	"github.com/hedgeorch/hedge/api"
)

// valuesNote documents who sees an enabler's values.
const valuesNote = "`additionalParams` (the Helm values, often passwords) are shown to Admins only; other users get them left out."

// visibleEnabler is e as a caller sees it: only Admins (who alone install
// and upgrade enablers, so own them) see its values.
func visibleEnabler(e api.Enabler, admin bool) api.Enabler {
	if !admin {
		e.Values = nil
	}
	return e
}

func visibleEnablers(es []api.Enabler, admin bool) []api.Enabler {
	for i := range es {
		es[i] = visibleEnabler(es[i], admin)
	}
	return es
}

// publicRepo is r with any password written into its URL replaced by
// "xxxxx" (url.URL.Redacted), for every caller: the stored URL keeps it.
func publicRepo(r api.ChartRepo) api.ChartRepo {
	r.URL = redactURL(r.URL)
	return r
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		// Not shown at all rather than shown with what may be a secret.
		return "(unparsable URL)"
	}
	if u.User == nil {
		return s
	}
	if _, has := u.User.Password(); !has {
		// A lone user part may be a token (https://TOKEN@host).
		u.User = url.User("xxxxx")
		return u.String()
	}
	return u.Redacted()
}
