"""Location verdicts: distance against geofence, allowing for reported accuracy."""
import pytest

from backend.geo import distance_m, location_verdict

BANDRA = (19.0596, 72.8295)


def test_distance_matches_known_values():
    assert distance_m(0, 0, 1, 0) == pytest.approx(111_195, rel=1e-4)  # one degree of latitude
    assert distance_m(*BANDRA, *BANDRA) == 0
    # Mumbai to Bengaluru, about 842 km as the crow flies.
    assert distance_m(19.0760, 72.8777, 12.9716, 77.5946) == pytest.approx(842_000, rel=0.01)


@pytest.mark.parametrize(
    "user, accuracy, verdict",
    [
        ((19.0596, 72.8295), None, "at_outlet"),
        ((19.0609, 72.8295), None, "at_outlet"),  # 145 m: inside the 150 m fence
        ((19.0611, 72.8295), None, "away_from_outlet"),  # 167 m, a perfect fix
        ((19.0611, 72.8295), 30, "at_outlet"),  # 167 m, but the 30 m error circle touches the fence
        ((19.0630, 72.8295), 30, "away_from_outlet"),  # 378 m: even the error circle misses
        ((19.0596, 72.8295), 151, "inconclusive"),  # fix wider than the fence
        ((19.1000, 72.8295), 1000, "away_from_outlet"),  # 4.5 km away with a 1 km fix: clearly away
        ((None, None), None, "not_shared"),
    ],
)
def test_verdicts(user, accuracy, verdict):
    assert location_verdict(*user, accuracy, *BANDRA, 150).verdict == verdict


def test_unknown_outlet_position():
    check = location_verdict(*BANDRA, 10, None, None, 150)
    assert (check.verdict, check.distance_m, check.radius_m) == ("outlet_location_unknown", None, 150)


def test_not_shared_wins_over_unknown_outlet():
    assert location_verdict(None, None, None, None, None, 150).verdict == "not_shared"
