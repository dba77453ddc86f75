"""Is the customer in fact at the outlet? Great-circle distance against a geofence."""
import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)

VERDICTS = ("at_outlet", "away_from_outlet", "inconclusive", "not_shared", "outlet_location_unknown")


@dataclass(frozen=True)
class LocationCheck:
    verdict: str
    distance_m: int | None
    radius_m: int


def distance_m(lat1, lon1, lat2, lon2):
    """Haversine distance in metres between two points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def location_verdict(user_lat, user_lon, accuracy_m, outlet_lat, outlet_lon, radius_m):
    """Judge a reported position against an outlet's geofence.

    The position is a circle of radius accuracy_m (0 when not given). If that circle
    misses the geofence, the customer was away; if it touches it and is no wider than
    the geofence, they were there; a circle wider than the geofence cannot tell.
    """
    if user_lat is None or user_lon is None:
        return LocationCheck("not_shared", None, radius_m)
    if outlet_lat is None or outlet_lon is None:
        return LocationCheck("outlet_location_unknown", None, radius_m)
    distance = distance_m(user_lat, user_lon, outlet_lat, outlet_lon)
    accuracy = accuracy_m or 0.0
    if distance > radius_m + accuracy:
        verdict = "away_from_outlet"
    elif accuracy <= radius_m:
        verdict = "at_outlet"
    else:
        verdict = "inconclusive"
    return LocationCheck(verdict, round(distance), radius_m)


def nearest_outlet(outlets, user_lat, user_lon, accuracy_m, default_radius_m):
    """The nearest outlet whose geofence the customer stands in (verdict at_outlet), or None."""
    best = None
    for outlet in outlets:
        check = location_verdict(user_lat, user_lon, accuracy_m, outlet.latitude, outlet.longitude,
                                 outlet.radius_m or default_radius_m)
        if check.verdict == "at_outlet" and (best is None or check.distance_m < best[0]):
            best = (check.distance_m, outlet)
    return best[1] if best else None
