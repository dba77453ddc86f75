"""Request bodies sent in chunks (no Content-Length) are held to the same size limit."""
import io
import json


class SizedBodies:
    """WSGI middleware: read a chunked body up front, at most one byte past the limit.

    Werkzeug checks MAX_CONTENT_LENGTH against the Content-Length header; a chunked body has
    none, and its reader then stops silently at the limit, so a value cut mid-way was
    processed as if whole. Here the body becomes a sized one: within the limit it is passed
    on whole, over it the app sees a length over the limit and answers 413 as for any other
    over-long body. A body whose chunks cannot be read gets a JSON 400.
    """

    def __init__(self, app, max_bytes):
        self.app, self.max_bytes = app, max_bytes

    def __call__(self, environ, start_response):
        coding = environ.get("HTTP_TRANSFER_ENCODING", "").strip().lower()
        if environ.get("CONTENT_LENGTH") or not coding:
            return self.app(environ, start_response)
        if coding != "chunked":
            return refuse(start_response, "Send the body whole (Content-Length) or chunked, nothing else.")
        try:
            body = environ["wsgi.input"].read(self.max_bytes + 1)
        except Exception:  # the server's chunk parser: a malformed chunk is the client's fault
            return refuse(start_response, "The request body could not be read.")
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = io.BytesIO(body)
        environ.pop("wsgi.input_terminated", None)
        environ.pop("HTTP_TRANSFER_ENCODING")  # Werkzeug ignores the length of a body it says is chunked
        return self.app(environ, start_response)


def refuse(start_response, message):
    """The API's JSON error shape, invalid_value (the server closes the connection after it)."""
    payload = json.dumps({"status": "error", "error": "invalid_value", "message": message, "fields": []}).encode()
    start_response("400 BAD REQUEST", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]
