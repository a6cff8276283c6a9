package placement

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ConstraintGeo is Oakestra's geo constraint: run within Threshold km of
// Location ("lat,lon").
const ConstraintGeo = "geo"

// LabelLocation is the node label holding a node's position as "lat,lon"
// (FogAtlas regions carry the same form).
const LabelLocation = "location"

// GeoConstraint enforces geo constraints: the node must carry a location
// label within the threshold's great-circle distance of the constraint's
// location. A node without a location cannot prove it is close, so it is
// rejected. At LevelRoot a cluster passes when one of its nodes does.
type GeoConstraint struct{}

var (
	_ FilterPlugin    = GeoConstraint{}
	_ PreFilterPlugin = GeoConstraint{}
)

func init() { registerFilter(650, func(Level) FilterPlugin { return GeoConstraint{} }) }

// Name returns "GeoConstraint".
func (GeoConstraint) Name() string { return "GeoConstraint" }

// Filter checks every geo constraint of r.
func (p GeoConstraint) Filter(ctx context.Context, r *Request, c *Candidate) *Status {
	f, st := p.PreFilter(ctx, r)
	if st != nil || f == nil {
		return st
	}
	return f.Filter(ctx, r, c)
}

type geoArea struct {
	lat, lon, km float64
	reason       *Status
}

// PreFilter parses the constraints once per request.
func (GeoConstraint) PreFilter(_ context.Context, r *Request) (FilterPlugin, *Status) {
	var areas []geoArea
	for _, con := range r.Constraints {
		if con.Type != ConstraintGeo {
			continue
		}
		lat, lon, ok := ParseLocation(con.Location)
		if !ok || con.Threshold <= 0 {
			return nil, &Status{Code: Error, Plugin: "GeoConstraint", Reason: fmt.Sprintf("geo constraint: location %q or threshold %v is not usable", con.Location, con.Threshold)}
		}
		areas = append(areas, geoArea{lat: lat, lon: lon, km: con.Threshold, reason: &Status{Code: Unschedulable, Plugin: "GeoConstraint",
			Reason: fmt.Sprintf("no node within %g km of %s", con.Threshold, con.Location)}})
	}
	if len(areas) == 0 {
		return nil, nil
	}
	return geoFilter(areas), nil
}

type geoFilter []geoArea

func (geoFilter) Name() string { return "GeoConstraint" }

func (g geoFilter) Filter(_ context.Context, _ *Request, c *Candidate) *Status {
	for _, a := range g {
		near := false
		for _, labels := range c.labelSets() {
			lat, lon, ok := ParseLocation(labels[LabelLocation])
			if ok && DistanceKM(a.lat, a.lon, lat, lon) <= a.km {
				near = true
				break
			}
		}
		if !near {
			return a.reason
		}
	}
	return nil
}

// ParseLocation reads "lat,lon" in degrees.
func ParseLocation(s string) (lat, lon float64, ok bool) {
	a, b, found := strings.Cut(s, ",")
	if !found {
		return 0, 0, false
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if err1 != nil || err2 != nil || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return 0, 0, false
	}
	return lat, lon, true
}

// DistanceKM is the great-circle (haversine) distance between two points.
func DistanceKM(lat1, lon1, lat2, lon2 float64) float64 {
	const earthRadiusKM = 6371.0
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * earthRadiusKM * math.Asin(math.Min(1, math.Sqrt(h)))
}
