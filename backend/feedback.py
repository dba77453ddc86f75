"""Recording a report: the one path every channel (API, widget, import) ends in."""
import secrets
from dataclasses import dataclass

from .db import database, serialize_on
from .geo import location_verdict
from .models import Feedback


@dataclass(frozen=True)
class Recorded:
    feedback_id: str
    duplicate: bool
    verdict: str
    distance_m: int | None
    radius_m: int
    offer_status: str


def _as_recorded(report, duplicate):
    return Recorded(report.public_id, duplicate, report.verdict, report.distance_m, report.radius_m, report.offer_status)


def record_feedback(
    *, bank, offer, outlet, feedback_type, user_id, now, default_radius_m, duplicate_window,
    latitude=None, longitude=None, accuracy_m=None, comment="", client_id=None, channel="api",
):
    """Store a report unless the same one came within duplicate_window; trusts its arguments.

    The catalogue objects must already be checked to belong together; outlet may be
    None for a report kept at merchant level.
    """
    radius_m = (outlet.radius_m if outlet else None) or default_radius_m
    check = location_verdict(
        latitude, longitude, accuracy_m,
        outlet.latitude if outlet else None, outlet.longitude if outlet else None, radius_m,
    )
    same_report = (
        Feedback.user_id == user_id,
        Feedback.offer == offer.id,
        Feedback.outlet.is_null() if outlet is None else Feedback.outlet == outlet.id,
        Feedback.feedback_type == feedback_type.id,
        Feedback.created_at > now - duplicate_window,
    )
    with database.atomic():
        serialize_on(f"feedback:{user_id}:{offer.id}:{outlet.id if outlet else '-'}:{feedback_type.id}")
        earlier = Feedback.select().where(*same_report).order_by(Feedback.created_at).first()
        if earlier is not None:
            return _as_recorded(earlier, duplicate=True)
        report = Feedback.create(
            public_id="fb_" + secrets.token_hex(8),
            channel=channel,
            client=client_id,
            bank=bank.id,
            offer=offer.id,
            merchant=offer.merchant_id,
            outlet=outlet.id if outlet else None,
            feedback_type=feedback_type.id,
            user_id=user_id,
            latitude=latitude,
            longitude=longitude,
            accuracy_m=accuracy_m,
            distance_m=check.distance_m,
            radius_m=radius_m,
            verdict=check.verdict,
            offer_status=offer.status_on(now.date()),
            comment=comment,
            created_at=now,
        )
    return _as_recorded(report, duplicate=False)
