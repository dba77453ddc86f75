"""The self-service console: a bank's, network's or the platform's admins manage their own
API clients (keys, widget origins, widget secret) and admin users, and anyone sets a
password from a one-time link.

Scope comes from the signed-in account, as everywhere in the admin: another audience's
client or admin is a 404. Platform admins see every client and admin, and alone may make
them for any bank or network. Secrets are shown once, in the answer to the POST that made
them, and never written to the audit log.
"""
import re
import secrets
import threading

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from markupsafe import escape
from wtforms import EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import EqualTo, InputRequired, Length, ValidationError

from .accounts import (MIN_PASSWORD, admin_scope, create_admin, find_admin, has_role, new_password_link, parse_scope,
                       password_link, set_disabled, use_password_link, visible_banks)
from .admin import CsrfForm, login_required, logout_form, never_framed, no_control_characters, requires
from .alerts import send_email
from .audit import audit_admin, record_audit
from .cases import scope_name
from .credentials import add_api_key, create_client, normalized_origin, revoke_api_key, set_widget_origins
from .db import database
from .forms import plain_text
from .models import AdminUser, ApiKey, Bank, Client, Network, Offer, PasswordLink, utcnow
from .privacy import erase_stored, pseudonym, shown, stored_reports
from .web import ADMIN_PREFIX

bp = Blueprint("console", __name__, url_prefix=ADMIN_PREFIX)
bp.after_request(never_framed)  # as every admin page
bp.context_processor(logout_form)

ROLE_CHOICES = [SelectChoice("viewer", "Viewer: reads the leaderboard, merchants and cases"),
                SelectChoice("analyst", "Analyst: also opens and works on cases"),
                SelectChoice("admin", "Admin: also manages API keys, widget, users and webhooks")]


def client_scope(client):
    return f"bank:{client.bank_id}" if client.bank_id else f"network:{client.network_id}"


def sees(scope):
    """True when the signed-in admin may manage what belongs to scope."""
    mine = admin_scope(g.admin)
    return mine == "all" or mine == scope


def scope_choices():
    """The audiences a platform admin may make a client or an admin for."""
    return ([SelectChoice(f"bank:{bank.code}", f"Bank: {bank.name}") for bank in Bank.select().order_by(Bank.name)]
            + [SelectChoice(f"network:{net.code}", f"Network: {net.name}") for net in Network.select().order_by(Network.name)])


def as_scope(bank, network):
    """'bank:<id>', 'network:<id>' or 'all' for a (bank, network) pair of parse_scope."""
    return f"bank:{bank.id}" if bank else f"network:{network.id}" if network else "all"


def audit(action, detail, target_scope):
    """The signed-in admin's action, in its audience's log and in the audience it acted on
    (a platform admin's change to a bank's client shows in that bank's log too)."""
    entry = audit_admin(g.admin, action, detail)
    if target_scope != entry.scope:
        record_audit(g.admin, None, target_scope, action, detail, entry.at)


def first_error(form):
    return "; ".join(f"{form[name].label.text}: {errors[0]}" for name, errors in form.errors.items()
                     if name != "csrf_token") or "The form expired; please try again."


# API clients and their widget.

class ClientForm(CsrfForm):
    name = StringField("Name", [InputRequired(), Length(max=200), plain_text()])
    owner = SelectField("For", choices=[])


class OriginForm(CsrfForm):
    origin = StringField("Origin", [InputRequired(), Length(max=300), plain_text()])

    def validate_origin(self, field):
        try:
            field.data = normalized_origin(field.data)
        except ValueError:
            raise ValidationError("give an http(s) origin such as https://www.bank.example") from None


def in_audience(model, order):
    """The clients or admins (model) of the signed-in admin's bank or network; every one for the platform."""
    query = model.select().order_by(order)
    kind, _, key = admin_scope(g.admin).partition(":")
    if kind == "bank":
        return query.where(model.bank == int(key))
    if kind == "network":
        return query.where(model.network == int(key))
    return query


def seen_or_404(model, row_id, scope_of):
    """The client or admin of this id, if the signed-in admin may manage it (sees its scope)."""
    row = model.get_or_none(model.id == row_id) if row_id < 2**63 else None
    if row is None or not sees(scope_of(row)):
        abort(404)
    return row


def client_or_404(client_id):
    return seen_or_404(Client, client_id, client_scope)


@bp.route("/clients", methods=["GET", "POST"])
@requires("admin")
def clients():
    """The audience's API clients; a new one's secrets are shown once."""
    form = ClientForm(request.form if request.method == "POST" else None)
    platform = admin_scope(g.admin) == "all"
    if platform:
        form.owner.choices = scope_choices()
    else:
        del form.owner  # the admin's own bank or network
    issued, error, status = None, None, 200
    if request.method == "POST":
        if form.validate():
            bank, network = parse_scope(form.owner.data) if platform else (g.admin.bank, g.admin.network)
            with database.atomic():
                issued = create_client(form.name.data.strip(), utcnow(), bank=bank, network=network)
                audit("client.created", f"{issued.client.clientkey} ({issued.client.name}), key {issued.apikey_id}",
                      client_scope(issued.client))
        else:
            error, status = first_error(form), 400
    return render_template("admin/clients.html", form=form, clients=list(in_audience(Client, Client.name)), issued=issued,
                           error=error, platform=platform, audience=scope_name(admin_scope(g.admin))), status


@bp.get("/clients/<int:client_id>")
@requires("admin")
def client_page(client_id):
    return render_client(client_or_404(client_id))


def render_client(client, status=200, **shown):
    """A client's page: its keys with their last use, its widget, and whatever was just made."""
    keys = list(ApiKey.select().where(ApiKey.client == client).order_by(ApiKey.revoked_at.is_null(False), ApiKey.id.desc()))
    offers = Offer.select().where((Offer.bank == client.bank_id) if client.bank_id else (Offer.network == client.network_id))
    example_offer = offers.order_by(Offer.valid_to.desc()).first()
    example_bank = client.bank or (Bank.select().where(Bank.network == client.network_id).order_by(Bank.code).first())
    base = current_app.config["PUBLIC_URL"] or request.host_url.rstrip("/")
    context = {"client": client, "keys": keys, "form": CsrfForm(), "origin_form": shown.pop("origin_form", None) or OriginForm(),
               "snippet": snippet(base, client, example_offer, None if client.bank_id else example_bank),
               "cache_seconds": current_app.config["CREDENTIAL_CACHE_SECONDS"], **shown}
    return render_template("admin/client.html", **context), status


def snippet(base, client, offer, bank):
    """The script tag a bank pastes into its offer page."""
    bank_attribute = f' data-bank="{escape(bank.code)}"' if bank else ""
    offer_code = escape(offer.code) if offer else "OFFER_CODE"
    return (f'<script src="{base}/widget.js" async\n        data-key="{client.widget_key}" data-offer="{offer_code}"'
            f'{bank_attribute}></script>')


def posted_client(client_id):
    """The client of a POST, after its CSRF token is checked."""
    client = client_or_404(client_id)
    if not CsrfForm(request.form).validate():
        abort(400)
    return client


@bp.post("/clients/<int:client_id>/keys")
@requires("admin")
def add_key(client_id):
    client = posted_client(client_id)
    with database.atomic():
        apikey, key_id = add_api_key(client, utcnow())
        audit("apikey.added", f"{client.clientkey}: {key_id}", client_scope(client))
    return render_client(client, new_key=(key_id, apikey))


@bp.post("/clients/<int:client_id>/keys/<key_id>/revoke")
@requires("admin")
def revoke_key(client_id, key_id):
    client = posted_client(client_id)
    active = ApiKey.select().where(ApiKey.client == client, ApiKey.revoked_at.is_null())
    if active.count() == 1 and active.where(ApiKey.key_id == key_id).exists():
        return render_client(client, 400, error="Add a new key before revoking the last one: the client's "
                                                "servers would have no key that works.")
    with database.atomic():
        if not revoke_api_key(client, key_id, utcnow()):
            abort(404)
        audit("apikey.revoked", f"{client.clientkey}: {key_id}", client_scope(client))
    return redirect(url_for("console.client_page", client_id=client.id))


@bp.post("/clients/<int:client_id>/origins")
@requires("admin")
def add_origin(client_id):
    client = client_or_404(client_id)
    form = OriginForm(request.form)
    if not form.validate():
        return render_client(client, 400, origin_form=form, error=first_error(form))
    try:
        with database.atomic():
            set_widget_origins(client, client.allowed_origins() + [form.origin.data])
            audit("widget.origin_added", f"{client.clientkey}: {form.origin.data}", client_scope(client))
    except ValueError as exc:
        return render_client(client, 400, origin_form=form, error=f"Origin: {exc}.")
    return redirect(url_for("console.client_page", client_id=client.id))


@bp.post("/clients/<int:client_id>/origins/remove")
@requires("admin")
def remove_origin(client_id):
    client = posted_client(client_id)
    origin = request.form.get("origin", "")
    if origin not in client.allowed_origins():
        abort(404)
    with database.atomic():
        set_widget_origins(client, [o for o in client.allowed_origins() if o != origin])
        audit("widget.origin_removed", f"{client.clientkey}: {origin}", client_scope(client))
    return redirect(url_for("console.client_page", client_id=client.id))


@bp.post("/clients/<int:client_id>/widget-secret")
@requires("admin")
def rotate_widget_secret(client_id):
    client = posted_client(client_id)
    with database.atomic():
        client.widget_secret = secrets.token_hex(32)
        client.save()
        audit("widget.secret_rotated", client.clientkey, client_scope(client))
    return render_client(client, new_widget_secret=client.widget_secret)


@bp.get("/clients/<int:client_id>/origin-check")
@requires("admin")
def origin_check(client_id):
    """Would the widget show on this page? (The browser decides by the frame's
    frame-ancestors, which lists exactly the allowed origins.)"""
    client = client_or_404(client_id)
    url = request.args.get("url", "").strip()
    try:
        origin = normalized_origin(url)
    except ValueError:
        answer, ok = "That is not an http(s) page address, such as https://www.bank.example/offers.", False
    else:
        ok = origin in client.allowed_origins()
        answer = (f"Allowed: the widget shows on pages of {origin}." if ok else
                  f"Not allowed: browsers will refuse to show the widget on pages of {origin}. Add the origin above.")
    page = render_template("admin/_origin_check.html", answer=answer, ok=ok, url=url, client=client)
    if request.headers.get("HX-Request"):
        return page
    return render_client(client, origin_answer=(answer, ok), checked_url=url)


# Admin users.

# One plain address (no display name, no list): an invitation goes to exactly one mailbox.
ADDRESS = re.compile(r"[A-Za-z0-9.!#$&'*+/=?^_`{|}~-]+@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+")


def one_address(form, field):
    if not ADDRESS.fullmatch(field.data or ""):
        raise ValidationError("give one e-mail address, such as name@bank.example")


def stripped(value):
    return value.strip() if isinstance(value, str) else value


class InviteForm(CsrfForm):
    email = EmailField("E-mail", [InputRequired(), Length(max=254), one_address], filters=[stripped])
    role = SelectField("Role", choices=ROLE_CHOICES, default="viewer")
    scope = SelectField("Organisation", choices=[])


class RoleForm(CsrfForm):
    role = SelectField("Role", choices=ROLE_CHOICES)


def user_or_404(user_id):
    return seen_or_404(AdminUser, user_id, admin_scope)


def mails_links():
    """E-mailed links need SMTP and PUBLIC_URL: a link built from the request's Host header
    would let anyone who asks for one (/forgot, Host: evil.example) receive its token."""
    return bool(current_app.config["SMTP_URL"] and current_app.config["PUBLIC_URL"])


def make_link(user, purpose):
    """A new one-time link that sets user's password (older ones end). Shown to an admin
    only when not e-mailed: the admin's own request names the host it reached."""
    token = new_password_link(user, purpose, utcnow())
    base = current_app.config["PUBLIC_URL"] if mails_links() else request.host_url.rstrip("/")
    return f"{base}{url_for('console.set_password')}?token={token}"


def deliver_link(user, purpose, link):
    """(link to show, problem): e-mailed where mails_links() (and then not shown, so that
    nobody but its owner can use it), else shown for the admin to pass on. Called after the
    transaction: a slow mail server holds no lock."""
    if not mails_links():
        return link, None
    if not mail_link(current_app.config, current_app.logger, user, purpose, link):
        return None, "The e-mail could not be sent (the server log says why); try again later."
    return None, None


def mail_link(config, logger, user, purpose, link):
    """Send the link to user; False (logged) when the mail server refused or failed."""
    invite = purpose == "invite"
    words = ("You are invited to the Offers Feedback console" if invite else
             "A new password was asked for your Offers Feedback account")
    try:
        send_email(config, user.email, "[Offers Feedback] " + ("Your invitation" if invite else "Set a new password"),
                   f"{words}. Set your password here (the link works once):\n\n{link}\n",
                   f'<!doctype html><html><body><p>{words}. <a href="{escape(link)}">Set your password</a> '
                   f"(the link works once).</p></body></html>")
    except Exception as exc:  # noqa: BLE001
        logger.warning("A password link to admin %s could not be sent: %s", user.id, type(exc).__name__)
        return False
    return True


def own_scope_text(admin):
    """The admin's audience as parse_scope reads it."""
    return f"bank:{admin.bank.code}" if admin.bank_id else f"network:{admin.network.code}" if admin.network_id else "platform"


def invite_form(formdata, platform):
    form = InviteForm(formdata)
    if platform:
        form.scope.choices = [SelectChoice("platform", "The platform")] + scope_choices()
    else:
        del form.scope  # into the admin's own bank or network
    return form


@bp.route("/users", methods=["GET", "POST"])
@requires("admin")
def users():
    """The audience's admins; invite one (platform admins, into any organisation)."""
    platform = admin_scope(g.admin) == "all"
    form = invite_form(request.form if request.method == "POST" else None, platform)
    shown, status = {}, 200
    if request.method == "POST":
        if not form.validate():
            shown["error"], status = first_error(form), 400
        elif find_admin(form.email.data):
            shown["error"], status = "That e-mail already has an account.", 400
        else:
            scope = form.scope.data if platform else own_scope_text(g.admin)
            with database.atomic():
                user = create_admin(form.email.data, None, scope, utcnow(), role=form.role.data)
                audit("admin.invited", f"{user.email} as {user.role} ({scope_name(admin_scope(user))})", admin_scope(user))
                link = make_link(user, "invite")
            shown["link"], shown["error"] = deliver_link(user, "invite", link)
            shown["invited"], form = user, invite_form(None, platform)
    pending = {admin_id for (admin_id,) in PasswordLink.select(PasswordLink.admin).where(
        PasswordLink.purpose == "invite", PasswordLink.used_at.is_null()).tuples()}
    return render_template("admin/users.html", form=form, users=list(in_audience(AdminUser, AdminUser.email)), pending=pending,
                           plain=CsrfForm(), platform=platform, scope_name=scope_name,
                           audience=scope_name(admin_scope(g.admin)),
                           admin_scope=admin_scope, **shown), status


def posted_user(user_id):
    """Another admin of the audience, for a POST whose CSRF token is checked."""
    user = user_or_404(user_id)
    if not CsrfForm(request.form).validate():
        abort(400)
    if user.id == g.admin.id:
        abort(403)  # one's own role and account are changed by another admin
    return user


@bp.post("/users/<int:user_id>/role")
@requires("admin")
def user_role(user_id):
    user = posted_user(user_id)
    form = RoleForm(request.form)
    if not form.validate():
        abort(400)
    with database.atomic():
        AdminUser.update(role=form.role.data).where(AdminUser.id == user.id).execute()
        audit("admin.role_changed", f"{user.email}: {user.role} -> {form.role.data}", admin_scope(user))
    return redirect(url_for("console.users"))


@bp.post("/users/<int:user_id>/disable")
@requires("admin")
def user_disable(user_id):
    """Disable (ending its sessions and links) or enable an admin: the form says which, so
    that a page shown before someone else's change cannot undo it."""
    user = posted_user(user_id)
    wanted = request.form.get("disabled")
    if wanted not in ("1", "0"):
        abort(400)
    with database.atomic():
        set_disabled(user.email, wanted == "1", utcnow())
        audit("admin.disabled" if wanted == "1" else "admin.enabled", user.email, admin_scope(user))
    return redirect(url_for("console.users"))


@bp.post("/users/<int:user_id>/reset")
@requires("admin")
def user_reset(user_id):
    user = posted_user(user_id)
    with database.atomic():
        audit("admin.reset_link", user.email, admin_scope(user))
        link = make_link(user, "reset")
    link, problem = deliver_link(user, "reset", link)
    return render_template("admin/link_sent.html", user=user, link=link, error=problem), 400 if problem else 200


# Setting a password from a link, and asking for one.

class SetPasswordForm(CsrfForm):
    token = HiddenField()
    password = PasswordField("New password", [InputRequired(), Length(min=MIN_PASSWORD, max=200)])
    repeat = PasswordField("The same again", [InputRequired(), EqualTo("password", "the two passwords differ")])


@bp.route("/password", methods=["GET", "POST"])
def set_password():
    """Set a password from a one-time link (an invitation or a reset); ?token= is redacted
    from the access log like every secret parameter."""
    g.admin = None
    token = request.form.get("token") if request.method == "POST" else request.args.get("token")
    now = utcnow()
    link = password_link(token, now)
    if link is None:
        return render_template("admin/password.html", form=None, done=False), 404
    form = SetPasswordForm(request.form if request.method == "POST" else None, token=token)
    if request.method == "POST" and form.validate():
        with database.atomic():
            if not use_password_link(link, form.password.data, now):
                return render_template("admin/password.html", form=None, done=False), 404
            record_audit(link.admin, None, admin_scope(link.admin), "admin.password_set", link.purpose, now)
        return render_template("admin/password.html", form=None, done=True)
    return render_template("admin/password.html", form=form, done=False, purpose=link.purpose), \
        400 if request.method == "POST" else 200


class ForgotForm(CsrfForm):
    email = EmailField("E-mail", [InputRequired(), Length(max=254), no_control_characters], filters=[stripped])


@bp.route("/forgot", methods=["GET", "POST"])
def forgot():
    """E-mail a reset link, where links are e-mailed; the answer is the same for any
    address, and as quick (the e-mail goes from a thread). A live link (an invitation, a
    reset an admin sent) is left alone: asking again cannot end it."""
    g.admin = None
    smtp = mails_links()
    form = ForgotForm(request.form if request.method == "POST" else None)
    if request.method == "POST" and smtp and form.validate():
        user = find_admin(form.email.data)
        now = utcnow()
        live = user and PasswordLink.select().where(PasswordLink.admin == user.id, PasswordLink.used_at.is_null(),
                                                    PasswordLink.expires_at > now).exists()
        if user and user.disabled_at is None and not live:
            with database.atomic():
                record_audit(user, None, admin_scope(user), "admin.reset_asked", "by e-mail", now)
                link = make_link(user, "reset")
            threading.Thread(target=mail_link, args=(current_app.config, current_app.logger, user, "reset", link),
                             name="reset-link-mail", daemon=True).start()
        return render_template("admin/forgot.html", form=form, smtp=smtp, sent=True)
    status = 400 if request.method == "POST" else 200
    return render_template("admin/forgot.html", form=form, smtp=smtp, sent=False), status


@bp.get("/account")
@login_required
def account():
    """Who the signed-in admin is, and what its role allows."""
    return render_template("admin/account.html", roles=ROLE_CHOICES)


# A customer's reports: looked up by the bank's id of them (hashed, never stored).

class CustomerForm(CsrfForm):
    bank = SelectField("Bank", choices=[])
    user_id = StringField("The customer's id at the bank", [InputRequired(), Length(max=254), plain_text()],
                          filters=[stripped])


@bp.route("/customers", methods=["GET", "POST"])
@requires("analyst")
def customers():
    """Find a customer's reports (an access request), and erase them (admins). The id is
    typed, hashed and forgotten: it travels in a POST body only (never in a URL or a log),
    and the page never shows it back (erasing names the customer by pseudonym)."""
    banks = visible_banks(admin_scope(g.admin))
    form = CustomerForm(request.form if request.method == "POST" else None)
    form.bank.choices = [SelectChoice(bank.code, bank.name) for bank in banks]
    if request.method == "GET":
        return render_template("admin/customers.html", form=form, reports=None)
    if request.form.get("erase"):
        return erase_view(banks)
    if not form.validate():
        form.user_id.data = ""  # never shown back
        return render_template("admin/customers.html", form=form, reports=None), 400
    bank = next(bank for bank in banks if bank.code == form.bank.data)
    stored = pseudonym(current_app.config["CUSTOMER_KEY"], bank.id, form.user_id.data)
    return customer_view(form, bank, stored)


def customer_view(form, bank, stored, erased=None):
    reports = stored_reports(bank, stored)
    if erased is None:
        audit("customer.reports_read", f"{len(reports)} reports", f"bank:{bank.id}")
    form.user_id.data = ""
    return render_template("admin/customers.html", form=form, reports=reports, bank=bank, erased=erased, stored=stored,
                           shown=shown(stored))


def erase_view(banks):
    """Erase the customer the page found (its pseudonym, at one of the admin's banks)."""
    if not has_role(g.admin, "admin"):
        abort(403)
    if not CsrfForm(request.form).validate():
        abort(400)
    bank = next((bank for bank in banks if bank.code == request.form.get("bank")), None)
    stored = request.form.get("erase", "")
    if bank is None or len(stored) > 64:
        abort(404)
    erased = erase_stored(bank, stored, record=lambda erased: audit("customer.erased", f"{erased} reports",
                                                                    f"bank:{bank.id}"))
    form = CustomerForm(formdata=None, bank=bank.code)
    form.bank.choices = [SelectChoice(b.code, b.name) for b in banks]
    return customer_view(form, bank, stored, erased)
