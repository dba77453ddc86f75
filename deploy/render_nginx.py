#!/usr/bin/env python3
"""Write the nginx configuration for Offers Feedback (deploy/nginx.conf.j2) to standard output.

Production, as root on the proxy host (Debian's nginx package):
    python deploy/render_nginx.py --app 10.0.0.11:8000 --app 10.0.0.12:8000 \\
        --server-name feedback.example.com \\
        --certificate /etc/letsencrypt/live/feedback.example.com/fullchain.pem \\
        --certificate-key /etc/letsencrypt/live/feedback.example.com/privkey.pem > /etc/nginx/nginx.conf
    nginx -t && systemctl reload nginx
"""
import argparse
import sys
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

HERE = Path(__file__).resolve().parent


def render(apps, server_name="_", listen=None, http_listen="80", certificate=None, certificate_key=None,
           state_dir=None, user="www-data"):
    """The configuration's text; TLS on port 443 unless certificate is None (then plain HTTP on listen)."""
    tls = certificate is not None
    if tls and not certificate_key:
        raise ValueError("--certificate needs --certificate-key")
    if state_dir:  # everything nginx writes, under one folder (tests, or nginx -p)
        state = Path(state_dir).resolve()
        paths = {"pid_file": state / "nginx.pid", "log_dir": state / "logs", "temp_dir": state / "temp"}
        for folder in (paths["log_dir"], paths["temp_dir"]):
            folder.mkdir(parents=True, exist_ok=True)
    else:  # Debian's own places
        paths = {"pid_file": "/run/nginx.pid", "log_dir": "/var/log/nginx", "temp_dir": "/var/lib/nginx"}
    environment = Environment(loader=FileSystemLoader(HERE), undefined=StrictUndefined, keep_trailing_newline=True)
    return environment.get_template("nginx.conf.j2").render(
        apps=apps, server_name=server_name, listen=listen or ("443" if tls else "80"), http_listen=http_listen,
        tls=tls, certificate=certificate, certificate_key=certificate_key, user=user, **paths)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app", action="append", required=True, metavar="HOST:PORT",
                        help="an app host's `run.py serve` address; repeat for each host")
    parser.add_argument("--server-name", default="_", help="the public host name (default: any)")
    parser.add_argument("--certificate", help="TLS certificate chain (PEM); without it, plain HTTP only "
                                              "(a test, or HTTPS ended by a load balancer in front: then PROXIES=2)")
    parser.add_argument("--certificate-key", help="the certificate's private key (PEM)")
    parser.add_argument("--listen", help="address or port of the main server (default: 443 with TLS, else 80)")
    parser.add_argument("--http-listen", default="80", help="with TLS: the port that redirects to HTTPS (default: 80)")
    parser.add_argument("--state-dir", help="put the pid file, logs and temporary files here, made if missing "
                                            "(default: Debian's /run, /var/log/nginx, /var/lib/nginx)")
    parser.add_argument("--user", default="www-data",
                        help="user nginx's workers run as when started by root (default: www-data)")
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(render(args.app, args.server_name, args.listen, args.http_listen, args.certificate,
                                args.certificate_key, args.state_dir, args.user))
    except ValueError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    main()
