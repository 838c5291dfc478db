"""`digitnet draw`: a local web page to draw a digit on and watch the network guess.

The server is the standard library's ``ThreadingHTTPServer``: every connection gets
its own thread and a socket timeout, so a slow or silent client holds only its own
thread and is dropped after ``SOCKET_TIMEOUT`` seconds.  Request bodies are bounded
by their Content-Length before a byte is read.  The page (HTML, CSS, JavaScript) is
shipped inside the package and served from it; nothing comes from the internet.

Predictions go through the same code as ``digitnet predict``:
``pictures.load_image`` → ``predict.read_picture`` (digits found, each made MNIST-style) →
``check.predict_probabilities``.
"""

from __future__ import annotations

import base64
import errno
import http.server
import io
import json
import re
import socket
import threading
from pathlib import Path

from .errors import DigitnetError

MAX_BODY_BYTES = 1_000_000  # a 280×280 canvas PNG is ~5–20 kB; 1 MB is generous
SOCKET_TIMEOUT = 10.0  # seconds a client may stay silent before its connection is dropped
MAX_CONNECTIONS = 64  # connections served at once; more get 503 instead of another thread
# After a 413 the unread body is read and thrown away, up to this much for up to this long,
# so that a client still sending gets the 413 instead of a "connection reset" error.
DRAIN_MAX_BYTES = 8_000_000
DRAIN_SECONDS = 2.0
STATIC_PACKAGE = "digitnet"
STATIC_FOLDER = "static"
# Only plain file names with a known type are served: no folders, no "..", no dotfiles.
_STATIC_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
# The page may load only its own files; images may also be data: URLs (the 28×28 preview).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
API_PREDICT = "/api/predict"
API_HEALTH = "/api/health"
KNOWN_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")


class HTTPError(Exception):
    """A request that gets a JSON error reply with ``status``."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


# --------------------------------------------------------------------------- the model


class Predictor:
    """A loaded model plus a lock: Keras models are not documented as thread-safe.

    One prediction takes a few milliseconds, so serialising them costs nothing a
    person drawing could notice, while decoding and preprocessing still run in
    parallel.
    """

    def __init__(self, model, model_path, metadata: dict):
        self.model = model
        self.model_path = Path(model_path)
        self.metadata = metadata
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model_path, *, on_fallback=None) -> Predictor:
        """Through ``runtime.load``: LiteRT when the model's twin matches, so no TensorFlow to boot."""
        from .modelio import read_metadata
        from .runtime import load

        predictor = cls(load(model_path, on_fallback=on_fallback), model_path, read_metadata(model_path))
        predictor.warm_up()
        return predictor

    def warm_up(self) -> None:
        """Run the model once so the first drawn digit does not pay for tracing."""
        import numpy as np

        self.probabilities(np.zeros((28, 28), dtype=np.uint8))

    def probabilities(self, image28):
        return self.batch_probabilities(image28)[0]

    def batch_probabilities(self, images):
        """The model's probabilities for a batch, one caller at a time."""
        from .check import predict_probabilities

        with self._lock:
            return predict_probabilities(self.model, images)

    def predict_png(self, data: bytes) -> dict:
        """The API's answer for an uploaded image: as ``predict --json`` (number, digits), with previews.

        A one-digit drawing keeps the fields it always had (digit, confidence, ten
        probabilities, the 28×28 preview); each digit of a number has its own preview.
        """
        from .pictures import load_image
        from .predict import read_picture

        picture = load_image(data)  # DigitnetError for not-an-image
        reading = read_picture(self.model, picture, ask=self.batch_probabilities)  # DigitnetError for a blank pad
        answer = reading.as_json()
        del answer["path"]
        for digit, shown in zip(reading.digits, answer["digits"], strict=True):
            shown["preprocessed"] = png_data_url(digit.image)
        answer["preprocessed"] = answer["digits"][0]["preprocessed"] if len(reading.digits) == 1 else None
        return answer

    def health(self) -> dict:
        return {"status": "ok", "model": str(self.model_path), "metadata": self.metadata}


def png_data_url(image28) -> str:
    """A uint8 (28, 28) image as a ``data:image/png;base64,...`` URL."""
    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image28, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# --------------------------------------------------------------------------- static files


def static_file(name: str) -> tuple[bytes, str]:
    """The bytes and content type of a file shipped in digitnet/static, or HTTPError 404."""
    from importlib import resources

    suffix = Path(name).suffix.lower()
    if not _STATIC_NAME.match(name) or suffix not in CONTENT_TYPES:
        raise HTTPError(404, f"no such file: /{name}")
    resource = resources.files(STATIC_PACKAGE).joinpath(STATIC_FOLDER, name)
    try:
        return resource.read_bytes(), CONTENT_TYPES[suffix]
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise HTTPError(404, f"no such file: /{name}") from None


# --------------------------------------------------------------------------- HTTP


class DrawRequestHandler(http.server.BaseHTTPRequestHandler):
    """Routes: GET / and static files, GET /api/health, POST /api/predict."""

    server_version = "digitnet-draw"
    protocol_version = "HTTP/1.1"  # keep-alive: the page sends many predictions

    def setup(self):
        self.timeout = self.server.socket_timeout  # StreamRequestHandler.setup applies it to the socket
        super().setup()

    # ----------------------------------------------------------- dispatch

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_OPTIONS(self):
        self._dispatch("OPTIONS")

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        self._body_read = False
        try:
            self._check_host()
            if path == API_PREDICT:
                self._require(method, ("POST",))
                self._send_json(200, self.server.predictor.predict_png(self._read_body()))
            elif path == API_HEALTH:
                self._require(method, ("GET", "HEAD"))
                self._send_json(200, self.server.predictor.health(), head=method == "HEAD")
            elif path.startswith("/api/"):
                raise HTTPError(404, f"no such API endpoint: {path}")
            else:
                body, content_type = static_file("index.html" if path == "/" else path[1:])
                self._require(method, ("GET", "HEAD"))
                self._send(200, body, content_type, head=method == "HEAD", cache=True)
        except HTTPError as exc:
            unread_body = not self._body_read and self._unread_body_bytes() > 0
            if unread_body:
                self.close_connection = True  # the unread body must not be parsed as a next request
            self._send_error_json(exc.status, str(exc), exc.headers, head=method == "HEAD")
            if unread_body:
                self._discard_unread_body()
        except DigitnetError as exc:  # not an image, blank drawing
            self._send_error_json(400, str(exc), head=method == "HEAD")
        except (TimeoutError, ConnectionError):
            raise  # the client went away or stalled: handle_one_request closes the connection
        except Exception as exc:  # a bug must not take the server down; say so and go on
            self.log_error("internal error on %s %s: %r", method, path, exc)
            self._send_error_json(500, f"internal error: {type(exc).__name__}", head=method == "HEAD")

    def _check_host(self) -> None:
        """Refuse a Host header naming another address than the one served.

        A page elsewhere can point its own domain name at 127.0.0.1 (DNS rebinding);
        the browser then sends that name as Host, and is refused here.
        """
        host = self.headers.get("Host", "")
        if not self.server.serves_host(host):
            raise HTTPError(403, f"Host {host!r} is not an address of this server; open {self.server.url}")

    def _require(self, method: str, allowed: tuple) -> None:
        if method not in allowed:
            raise HTTPError(
                405, f"{method} is not allowed here; use {' or '.join(allowed)}", {"Allow": ", ".join(allowed)}
            )

    def _read_body(self) -> bytes:
        """The request body, refused by its declared size before anything is read."""
        if self.headers.get("Transfer-Encoding"):
            raise HTTPError(411, "chunked bodies are not accepted; send a Content-Length")
        declared = self.headers.get("Content-Length")
        if declared is None:
            self.close_connection = True  # a body may follow, and nothing says where it ends
            raise HTTPError(411, "a Content-Length header is required")
        if not declared.strip().isdigit():
            self.close_connection = True
            raise HTTPError(400, f"invalid Content-Length {declared!r}")
        size = int(declared)
        if size > MAX_BODY_BYTES:
            raise HTTPError(413, f"the image is {size:,} bytes; the limit is {MAX_BODY_BYTES:,}")
        body = self.rfile.read(size)
        self._body_read = True
        return body

    def _unread_body_bytes(self) -> int:
        """How much body the client announced (DRAIN_MAX_BYTES for a chunked one)."""
        if self.headers.get("Transfer-Encoding"):
            return DRAIN_MAX_BYTES
        declared = (self.headers.get("Content-Length") or "").strip()
        return int(declared) if declared.isdigit() else 0

    def _discard_unread_body(self) -> None:
        """Swallow what a refused client is still sending, bounded in bytes and time.

        Closing a socket with unread data makes the kernel reset the connection, and a
        client still writing its body would then never read the 413.
        """
        import time

        deadline = time.monotonic() + DRAIN_SECONDS
        remaining = min(self._unread_body_bytes(), DRAIN_MAX_BYTES)
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            while remaining > 0 and time.monotonic() < deadline:
                self.connection.settimeout(max(0.05, deadline - time.monotonic()))
                chunk = self.connection.recv(min(remaining, 65536))
                if not chunk:
                    break
                remaining -= len(chunk)
        except OSError:
            pass

    def handle_expect_100(self):
        """Refuse an oversized body before the client sends it (curl asks first for big ones)."""
        declared = self.headers.get("Content-Length", "")
        if declared.strip().isdigit() and int(declared) > MAX_BODY_BYTES:
            self.close_connection = True
            self._send_error_json(413, f"the image is {int(declared):,} bytes; the limit is {MAX_BODY_BYTES:,}")
            return False
        return super().handle_expect_100()

    # ----------------------------------------------------------- replies

    def _send_json(self, status: int, payload: dict, *, head: bool = False, headers: dict | None = None) -> None:
        body = json.dumps(payload).encode("utf-8")
        self._send(status, body, "application/json", head=head, headers=headers)

    def _send_error_json(self, status: int, message: str, headers: dict | None = None, *, head: bool = False) -> None:
        self._send_json(status, {"error": message, "status": status}, head=head, headers=headers)

    def _send(self, status: int, body: bytes, content_type: str, *, head=False, cache=False, headers=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache" if cache else "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.send_header("Referrer-Policy", "no-referrer")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def send_error(self, code, message=None, explain=None):
        """The base class's own errors (bad request line, 501 method) as JSON too."""
        self.close_connection = True
        try:
            self._send_error_json(code, message or self.responses.get(code, ("error",))[0])
        except OSError:
            pass

    def log_message(self, format, *args):
        if self.server.log_requests:
            super().log_message(format, *args)

    def log_error(self, format, *args):
        # Timeouts and dropped connections are the server working as meant, not news.
        if self.server.log_requests or format.startswith("internal error"):
            super().log_message(format, *args)


class DrawServer(http.server.ThreadingHTTPServer):
    """A threaded HTTP server holding the predictor; at most MAX_CONNECTIONS threads."""

    daemon_threads = True  # Ctrl-C does not wait for idle keep-alive connections
    request_queue_size = 128

    def __init__(
        self,
        address,
        predictor,
        *,
        log_requests: bool = False,
        max_connections: int = MAX_CONNECTIONS,
        socket_timeout: float = SOCKET_TIMEOUT,
    ):
        self.predictor = predictor
        self.log_requests = log_requests
        self.socket_timeout = socket_timeout
        self.host_name = host_name(address[0])
        self._slots = threading.BoundedSemaphore(max_connections)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, DrawRequestHandler)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            self._refuse_busy(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse_busy(self, request) -> None:
        body = b'{"error": "the server is busy; try again", "status": 503}'
        try:
            request.settimeout(1.0)
            request.sendall(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
        except OSError:
            pass
        self.shutdown_request(request)

    def handle_error(self, request, client_address):
        # A client that vanishes mid-reply is not worth a traceback on the console.
        if self.log_requests:
            super().handle_error(request, client_address)

    def serves_host(self, header: str) -> bool:
        """Whether a request's Host header names this server: its address, or localhost for a loopback one.

        Listening on every address (0.0.0.0, ::), any IP address is accepted; a
        name other than localhost or the --host given never is (the port is not checked).
        """
        import ipaddress

        name = host_name(header)
        listening = str(self.server_address[0]).lower()
        if name and name == self.host_name:
            return True
        try:
            bound = ipaddress.ip_address(listening)
        except ValueError:
            return False
        if name == "localhost":
            return bound.is_loopback or bound.is_unspecified
        try:
            asked = ipaddress.ip_address(name)
        except ValueError:
            return False
        return bound.is_unspecified or asked == bound or (bound.is_loopback and asked.is_loopback)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = "127.0.0.1" if host == "0.0.0.0" else ("[::1]" if host == "::" else host)
        if ":" in shown and not shown.startswith("["):
            shown = f"[{shown}]"
        return f"http://{shown}:{port}/"


def bind_server(host: str, port: int, predictor=None, **kwargs) -> DrawServer:
    """Bind the server (before the slow model load, so a busy port fails at once)."""
    try:
        return DrawServer((host, port), predictor, **kwargs)
    except socket.gaierror:
        raise DigitnetError(
            f"cannot listen on host {host!r}: unknown host name or address; try --host 127.0.0.1"
        ) from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise DigitnetError(
                f"port {port} on {host} is already in use; stop the other program or choose another --port"
            ) from None
        if exc.errno == errno.EACCES:
            raise DigitnetError(
                f"no permission to listen on port {port}; choose a port above 1023 with --port"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise DigitnetError(
                f"cannot listen on {host}: this machine has no such address; try --host 127.0.0.1"
            ) from None
        raise DigitnetError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None


def host_name(header: str) -> str:
    """The host part of a Host header or address, lower-case, without port or IPv6 brackets."""
    text = str(header).strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else ""
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text.rstrip(".")


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_in_thread(server: DrawServer) -> threading.Thread:
    """Serve in a background thread (tests); stop with ``server.shutdown()``."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True, name="digitnet-draw"
    )
    thread.start()
    return thread
