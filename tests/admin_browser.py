"""An admin's browser against the real server, over plain HTTP: keeps the session cookie,
follows no redirects, and keeps the cookie and passwords out of test output."""
import http.client
import urllib.parse

from support import CSRF_FIELD as CSRF


class Answer:
    """A response: status, headers (case-insensitive), body text."""

    def __init__(self, response):
        self.status, self.headers, self.text = response.status, response.headers, response.read().decode()

    def __repr__(self):
        return f"<Answer {self.status} {self.headers.get('Content-Type')}>"


class AdminBrowser:
    """One browser: its cookie is its session. copy() makes a second browser holding the same cookie."""

    def __init__(self, base, cookie=None):
        self.base, self.cookie = base, cookie

    def __repr__(self):
        return "<AdminBrowser>"  # never the cookie: it is a credential

    def copy(self):
        """Another browser with this one's cookie, as a thief who copied it would have."""
        return AdminBrowser(self.base, self.cookie)

    def request(self, method, path, form=None, headers=None):
        """Send a request with the cookie; a Set-Cookie replaces (or clears) it."""
        parts = urllib.parse.urlsplit(self.base)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = f"session={self.cookie}"
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = Answer(connection.getresponse())
        finally:
            connection.close()
        for header in answer.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            if name == "session":
                value = rest.split(";", 1)[0]
                self.cookie = None if not value or "Expires=Thu, 01 Jan 1970" in header else value
        return answer

    def get(self, path):
        return self.request("GET", path)

    def csrf_token(self, path="/admin/login"):
        return CSRF.search(self.get(path).text).group(1)

    def log_in(self, email, password, token=None):
        """POST the login form (with a CSRF token from the login page unless given); the Answer."""
        token = token or self.csrf_token()
        return self.request("POST", "/admin/login", {"email": email, "password": password, "csrf_token": token})

    def log_out(self):
        return self.request("POST", "/admin/logout", {"csrf_token": self.csrf_token("/admin/leaderboard")})

    def signed_in(self, path="/admin/leaderboard.csv"):
        """True when path answers (200), False when it sends to the login page; anything else fails."""
        answer = self.get(path)
        assert answer.status in (200, 302), answer
        if answer.status == 302:
            assert answer.headers["Location"].startswith("/admin/login?next="), answer.headers["Location"]
        return answer.status == 200
