"""Admin pages of the action loop: cases, webhooks, e-mail alerts and the audit log.

Every page reads and changes only the signed-in admin's own audience (its account's
scope, never the URL's): another audience's case or webhook is a 404.
"""
from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from wtforms import BooleanField, IntegerField, SelectField, SelectMultipleField, TextAreaField, URLField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange

from .accounts import admin_scope
from .admin import CsrfForm, csv_response, login_required, logout_form, merchant_or_404, never_framed, requires
from .alerts import EVENT_TYPES, AlertError, check_url, create_webhook, shown
from .audit import audit_admin, audit_entries
from .cases import (ACTIONS, EVENTS, STATES, active_case, case_label, effect_chart, is_overdue, open_case, resolve, scope_admins,
                    set_owner, take_action)
from .db import database
from .forms import plain_text
from .models import Case, CaseAction, Delivery, EmailSubscription, Event, Webhook, utcnow
from .web import ADMIN_PREFIX

bp = Blueprint("casework", __name__, url_prefix=ADMIN_PREFIX)
bp.after_request(never_framed)  # as every admin page
bp.context_processor(logout_form)


class OpenCaseForm(CsrfForm):
    merchant_id = IntegerField("Merchant", [InputRequired(), NumberRange(1, 2**63 - 1)])


class ActionForm(CsrfForm):
    kind = SelectField("Action", choices=[SelectChoice(k, v) for k, v in ACTIONS.items()])
    note = TextAreaField("Note", [Length(max=2000), plain_text(allow_newlines=True)])


class ResolveForm(CsrfForm):
    note = TextAreaField("What was found", [Length(max=2000), plain_text(allow_newlines=True)])


class OwnerForm(CsrfForm):
    owner = SelectField("Owner", choices=[])


class WebhookForm(CsrfForm):
    url = URLField("URL", [InputRequired(), Length(max=2000)])
    events = SelectMultipleField("Events (none chosen: all)", choices=[SelectChoice(e) for e in EVENT_TYPES])


class SubscriptionForm(CsrfForm):
    subscribed = BooleanField("E-mail me these events")
    events = SelectMultipleField("Events (none chosen: all)", choices=[SelectChoice(e) for e in EVENT_TYPES])
    digest = BooleanField("As one daily digest instead of one e-mail each")


def audit(action, detail=""):
    """The signed-in admin's action, in the audit log."""
    audit_admin(g.admin, action, detail)


def case_or_404(case_id):
    case = Case.get_or_none(Case.id == case_id, Case.scope == admin_scope(g.admin)) if case_id < 2**63 else None
    if case is None:
        abort(404)
    return case


@bp.get("/cases")
@login_required
def cases():
    """The audience's cases, those needing action first."""
    now = utcnow()
    query = Case.select().where(Case.scope == admin_scope(g.admin)).order_by(Case.state == "resolved", Case.due_at)
    state = request.args.get("state", "")
    if state in STATES:
        query = query.where(Case.state == state)
    return render_template("admin/cases.html", cases=list(query), label=lambda case: case_label(case, now),
                           state=state, states=STATES)


@bp.post("/cases")
@requires("analyst")
def open_case_view():
    """Open a case for a merchant of this audience (or go to the one already open)."""
    form = OpenCaseForm(request.form)
    if not form.validate():
        abort(400)
    scope = admin_scope(g.admin)
    merchant = merchant_or_404(form.merchant_id.data, scope)
    with database.atomic():
        case = active_case(scope, merchant.id)
        if case is None:
            case = open_case(scope, merchant, g.admin, utcnow(), current_app.config["PUBLIC_URL"])
            audit("case.opened", f"case {case.id}: {merchant.code}")
    return redirect(url_for("casework.case", case_id=case.id))


@bp.get("/cases/<int:case_id>")
@login_required
def case(case_id):
    case = case_or_404(case_id)
    return render_case(case)


def render_case(case, status=200, **forms):
    now = utcnow()
    owner_form = forms.get("owner_form") or OwnerForm(owner=str(case.owner_id or ""))
    owner_form.owner.choices = [SelectChoice("", "Nobody")] + [
        SelectChoice(str(a.id), a.email) for a in scope_admins(case.scope)]
    chart, findings = effect_chart(case, now)
    return render_template(
        "admin/case.html", case=case, label=case_label(case, now), overdue=is_overdue(case, now),
        actions=list(case.actions.order_by(CaseAction.at, CaseAction.id)), names={**ACTIONS, **EVENTS},
        action_form=forms.get("action_form") or ActionForm(), resolve_form=forms.get("resolve_form") or ResolveForm(),
        owner_form=owner_form,
        chart=chart, findings=findings), status


@bp.post("/cases/<int:case_id>/actions")
@requires("analyst")
def case_action(case_id):
    case = case_or_404(case_id)
    form = ActionForm(request.form)
    if not form.validate():
        return render_case(case, 400, action_form=form)
    with database.atomic():
        take_action(case, form.kind.data, g.admin, form.note.data.strip(), utcnow())
        audit("case.action", f"case {case.id}: {form.kind.data}")
    return redirect(url_for("casework.case", case_id=case.id))


@bp.post("/cases/<int:case_id>/resolve")
@requires("analyst")
def case_resolve(case_id):
    case = case_or_404(case_id)
    form = ResolveForm(request.form)
    if case.state == "resolved":
        abort(400)
    if not form.validate():
        return render_case(case, 400, resolve_form=form)
    with database.atomic():
        resolve(case, g.admin, form.note.data.strip(), utcnow())
        audit("case.resolved", f"case {case.id}")
    return redirect(url_for("casework.case", case_id=case.id))


@bp.post("/cases/<int:case_id>/owner")
@requires("analyst")
def case_owner(case_id):
    case = case_or_404(case_id)
    form = OwnerForm(request.form)
    admins = {str(a.id): a for a in scope_admins(case.scope)}
    form.owner.choices = [SelectChoice("", "Nobody")] + [SelectChoice(k, a.email) for k, a in admins.items()]
    if not form.validate():  # also refuses an admin of another audience: not among the choices
        return render_case(case, 400, owner_form=form)
    with database.atomic():
        set_owner(case, admins.get(form.owner.data), g.admin, utcnow())
        audit("case.owner", f"case {case.id}: {form.owner.data or 'nobody'}")
    return redirect(url_for("casework.case", case_id=case.id))


# Webhooks.

@bp.route("/webhooks", methods=["GET", "POST"])
@requires("admin")
def webhooks():
    """The audience's webhooks; a new one's secret is shown once."""
    scope = admin_scope(g.admin)
    form = WebhookForm(request.form if request.method == "POST" else None)
    secret, error, status = None, None, 200
    if request.method == "POST":
        if form.validate():
            try:
                url = check_url(form.url.data.strip(), current_app.config["WEBHOOK_PRIVATE_NETWORKS"])
                with database.atomic():
                    webhook, secret = create_webhook(scope, url, form.events.data, utcnow())
                    audit("webhook.created", f"webhook {webhook.id}: {shown(url)}")
            except AlertError as exc:
                error, status = f"URL: {exc}", 400
        else:
            error, status = "; ".join(f"{form[name].label.text}: {errors[0]}" for name, errors in form.errors.items()), 400
    hooks = list(Webhook.select().where(Webhook.scope == scope).order_by(Webhook.id.desc()))
    return render_template("admin/webhooks.html", form=form, webhooks=hooks, secret=secret, error=error,
                           disable_form=CsrfForm()), status


def webhook_or_404(webhook_id):
    found = Webhook.get_or_none(Webhook.id == webhook_id, Webhook.scope == admin_scope(g.admin)) \
        if webhook_id < 2**63 else None
    if found is None:
        abort(404)
    return found


@bp.get("/webhooks/<int:webhook_id>")
@requires("admin")
def webhook(webhook_id):
    """A webhook's delivery log, newest first."""
    found = webhook_or_404(webhook_id)
    deliveries = (Delivery.select(Delivery, Event).join(Event).where(Delivery.webhook == found)
                  .order_by(Delivery.id.desc()).limit(200))
    return render_template("admin/webhook.html", webhook=found, deliveries=list(deliveries), disable_form=CsrfForm())


@bp.post("/webhooks/<int:webhook_id>/disable")
@requires("admin")
def webhook_disable(webhook_id):
    found = webhook_or_404(webhook_id)
    if not CsrfForm(request.form).validate():
        abort(400)
    with database.atomic():
        found.disabled_at = found.disabled_at or utcnow()
        found.save()
        audit("webhook.disabled", f"webhook {found.id}")
    return redirect(url_for("casework.webhooks"))


# E-mail alerts.

@bp.route("/alerts", methods=["GET", "POST"])
@login_required
def alerts():
    """The signed-in admin's own e-mail alerts for its audience's events."""
    subscription = EmailSubscription.get_or_none(EmailSubscription.admin == g.admin)
    if request.method == "GET":
        form = SubscriptionForm(subscribed=subscription is not None,
                                events=subscription.events.split(",") if subscription and subscription.events else [],
                                digest=bool(subscription and subscription.digest))
        return render_template("admin/alerts.html", form=form, saved=False, smtp=bool(current_app.config["SMTP_URL"]))
    form = SubscriptionForm(request.form)
    if not form.validate():
        return render_template("admin/alerts.html", form=form, saved=False,
                               smtp=bool(current_app.config["SMTP_URL"])), 400
    with database.atomic():
        if not form.subscribed.data:
            EmailSubscription.delete().where(EmailSubscription.admin == g.admin).execute()
        else:
            subscription = subscription or EmailSubscription(admin=g.admin)
            subscription.events, subscription.digest = ",".join(sorted(form.events.data)), form.digest.data
            subscription.save()
        audit("alerts.changed", "subscribed" if form.subscribed.data else "unsubscribed")
    return render_template("admin/alerts.html", form=form, saved=True, smtp=bool(current_app.config["SMTP_URL"]))


# The audit log.

@bp.get("/audit")
@requires("admin")
def audit_log():
    entries = list(audit_entries(admin_scope(g.admin)).limit(500))
    return render_template("admin/audit.html", entries=entries)


@bp.get("/audit.csv")
@requires("admin")
def audit_csv():
    scope = admin_scope(g.admin)
    rows = [[e.at.isoformat(timespec="seconds"), e.email, e.scope, e.action, e.detail]
            for e in audit_entries(scope).iterator()]
    with database.atomic():
        audit("export.audit_csv", f"{len(rows)} entries")
    return csv_response("audit-log.csv", ["at_utc", "admin", "scope", "action", "detail"], rows)
