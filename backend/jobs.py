"""The job runner: evaluates flags, delivers alerts, sends digests and applies retention on a schedule.

`run.py serve` starts it beside the web server (JOBS=0: not); `run.py worker` runs it
alone. APScheduler schedules (intervals in seconds, a daily time, no overlapping runs); the
database holds what must survive a crash (the events and their deliveries), so the
scheduler keeps nothing. Each job runs under a lock of its own name: several runners (one
per app host) take turns instead of doing the work twice.
"""
import ctypes
import logging
import signal
import subprocess
import sys
from datetime import timezone

from apscheduler.schedulers.blocking import BlockingScheduler

from .alerts import deliver_due, send_digests
from .cases import FULL_EVALUATION, audiences_since, evaluate_flags
from .config import PROJECT_DIR
from .db import database, held_alone
from .models import utcnow
from .privacy import apply_retention

log = logging.getLogger(__name__)


def run_jobs(app):
    """Run the jobs until SIGTERM or SIGINT."""
    config = app.config
    scheduler = BlockingScheduler(timezone=timezone.utc,
                                  job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60})

    seen = {"report": None, "full_at": None}  # the last report evaluated; the last time every audience was

    def evaluate(now):
        """The audiences with new reports; every one after FULL_EVALUATION or a new day."""
        full = seen["full_at"] is None or now - seen["full_at"] >= FULL_EVALUATION or now.date() != seen["full_at"].date()
        scopes, last = audiences_since(None if full else seen["report"])
        evaluate_flags(now, config["PUBLIC_URL"], scopes)
        seen.update(report=last, **({"full_at": now} if full else {}))

    def deliver(now):
        deliver_due(now, config)

    def evaluate_then_deliver():
        run_locked(app, "evaluate", evaluate)
        run_locked(app, "deliver", deliver)  # what it recorded goes out at once

    scheduler.add_job(evaluate_then_deliver, "interval", seconds=config["FLAG_EVALUATION_SECONDS"],
                      next_run_time=utcnow().replace(tzinfo=timezone.utc), id="evaluate")
    scheduler.add_job(run_locked, "interval", seconds=config["DELIVERY_POLL_SECONDS"],
                      args=[app, "deliver", deliver], id="deliver")
    scheduler.add_job(run_locked, "cron", hour=config["DIGEST_HOUR"], args=[app, "digest",
                      lambda now: send_digests(now, config)], id="digest")
    scheduler.add_job(run_locked, "cron", hour=config["DIGEST_HOUR"], minute=30, args=[app, "retention", lambda now: apply_retention(
        now, config["KEEP_COORDINATES_DAYS"], config["KEEP_COMMENTS_DAYS"])], id="retention")
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: scheduler.shutdown(wait=False))
    log.info("Job runner started: flags every %s s, deliveries every %s s", config["FLAG_EVALUATION_SECONDS"],
             config["DELIVERY_POLL_SECONDS"])
    scheduler.start()


def run_locked(app, name, work):
    """work(now) alone among the runners; skipped when another runner is at it."""
    with app.app_context():
        try:
            with held_alone(f"job-{name}") as acquired:
                if acquired:
                    work(utcnow())
        except Exception:  # noqa: BLE001  (logged; the next run tries again)
            log.exception("Job %s failed", name)
            if database.in_transaction():
                database.rollback()
        finally:
            database.close()


def start_runner_process():
    """`run.py worker` as a child that ends with this process, however it ends (Linux)."""
    def end_with_parent():
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return subprocess.Popen([sys.executable, str(PROJECT_DIR / "run.py"), "worker"], preexec_fn=end_with_parent)
