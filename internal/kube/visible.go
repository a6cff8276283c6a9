package kube

import (
	"net/url"

	"github.com/hedgeorch/hedge/api"
)

// valuesNote documents who sees an enabler's values.
const valuesNote = "`additionalParams` (the Helm values, often passwords) are shown to Admins and to the enabler's owner (who installed it) only; other users get them left out."

// Viewer is who reads enablers: their values are shown to Admins and to
// the enabler's owner (by user id, as names can be reused), and to no one
// else.
type Viewer struct {
	UserID string
	Admin  bool
}

// view is e as v sees it.
func (v Viewer) view(e api.Enabler) api.Enabler {
	if !v.Admin && (v.UserID == "" || v.UserID != e.OwnerID) {
		e.Values = nil
	}
	return e
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
