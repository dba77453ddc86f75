"""Offers Feedback: the Flask application factory."""
from flask import Flask, render_template
from werkzeug.middleware.proxy_fix import ProxyFix

from . import admin, api, casework, console, db, rollups, web, widget
from .config import settings
from .limits import SizedBodies
from .lookups import Lookups


def create_app(test_config=None):
    """Build the app from the environment's settings, overridden by test_config when given."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.from_mapping(settings())
    if test_config:
        app.config.update(test_config)
    # Keep keys in the order written: "status" first reads better in curl output.
    app.json.sort_keys = False
    if app.config["PROXIES"]:
        # The widget's per-IP limit needs the customer's address, not the proxy's.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXIES"], x_proto=app.config["PROXIES"])
    app.wsgi_app = SizedBodies(app.wsgi_app, app.config["MAX_CONTENT_LENGTH"])
    web.install(app)
    db.init_app(app)
    app.extensions["lookups"] = Lookups(app.config["CATALOG_CACHE_SECONDS"], app.config["CREDENTIAL_CACHE_SECONDS"])
    app.register_blueprint(api.bp)
    app.register_blueprint(widget.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(casework.bp)
    app.register_blueprint(console.bp)
    app.after_request(rollups.count_after_response)

    @app.get("/healthz")
    def healthz():
        """Liveness for load balancers (and the benchmark's baseline)."""
        return {"status": "ok"}

    @app.get("/")
    def index():
        """A landing page pointing at the documentation."""
        return render_template("index.html")

    return app
