"""`digitnet draw`'s server and JSON API, against a real server on a free loopback port."""

from __future__ import annotations

import base64
import concurrent.futures
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from digitnet.check import JSON_DECIMALS

from synth import render_digit

JSON_ROUNDING = 0.5 * 10**-JSON_DECIMALS  # the most rounding JSON probabilities moves one

SILENT_CLIENT_TIMEOUT = 2.0  # the test server drops silent clients after this long


# --------------------------------------------------------------------------- helpers


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def drawn_png(digit: int, seed: int = 0, *, invert: bool = False) -> bytes:
    """A digit on a 280×280 canvas, like the page's pad sends (white on black by default)."""
    pixels = render_digit(digit, np.random.default_rng(seed), canvas=280)
    return png_bytes(255 - pixels if invert else pixels)


def request(server, method, path, body=None, headers=None, timeout=10.0):
    """(status, headers, parsed JSON or raw bytes) for one request on a fresh connection."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        content_type = response.getheader("Content-Type", "")
        payload = json.loads(data) if content_type.startswith("application/json") and data else data
        return response.status, response, payload
    finally:
        conn.close()


def raw_exchange(server, raw: bytes, timeout=5.0) -> bytes:
    """Send raw bytes, return everything the server answers before it closes."""
    with socket.create_connection(server.server_address[:2], timeout=timeout) as sock:
        sock.sendall(raw)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                break
        return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def status_of(raw_answer: bytes) -> int:
    return int(raw_answer.split(b" ", 2)[1])


def decode_data_url(url: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :]))))


# --------------------------------------------------------------------------- the server


@pytest.fixture(scope="module")
def predictor(trained_model_path):
    from digitnet.web import Predictor

    return Predictor.load(trained_model_path)


@pytest.fixture(scope="module")
def server(predictor):
    from digitnet.web import bind_server, serve_in_thread

    srv = bind_server("127.0.0.1", 0, predictor, socket_timeout=SILENT_CLIENT_TIMEOUT)
    thread = serve_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def test_health_names_the_model_and_its_metadata(server, trained_model_path):
    status, _, payload = request(server, "GET", "/api/health")
    assert status == 200
    assert payload["status"] == "ok"
    assert payload["model"] == str(trained_model_path)
    assert payload["metadata"]["architecture"] == "mlp"


def test_predict_a_drawn_digit(server, predictor):
    from digitnet.check import predict_probabilities
    from digitnet.digit import prepare_image
    from digitnet.pictures import load_image

    body = drawn_png(7)
    status, response, payload = request(server, "POST", "/api/predict", body, {"Content-Type": "image/png"})
    assert status == 200, payload
    assert {"digit", "confidence", "probabilities", "preprocessed"} <= set(payload)
    assert payload["number"] == str(payload["digit"]) and len(payload["digits"]) == 1
    probabilities = np.array(payload["probabilities"])
    assert probabilities.shape == (10,)
    assert probabilities.sum() == pytest.approx(1.0, abs=10 * JSON_ROUNDING)
    assert all(round(p, JSON_DECIMALS) == p for p in payload["probabilities"])
    assert payload["digit"] == int(probabilities.argmax())
    assert payload["confidence"] == pytest.approx(probabilities.max())
    # The preview is exactly the image the model was given, via the shared preprocessing.
    seen = decode_data_url(payload["preprocessed"])
    expected = prepare_image(load_image(body))
    np.testing.assert_array_equal(seen, expected)
    np.testing.assert_allclose(
        probabilities, predict_probabilities(predictor.model, expected)[0], rtol=0, atol=JSON_ROUNDING + 1e-9
    )


def test_predict_a_drawn_number(server):
    """Two digits side by side on a wide pad: the number, and each digit as predict --json gives it."""
    rng = np.random.default_rng(2)
    pad = np.zeros((280, 700), dtype=np.uint8)
    pad[:, 60:340] = render_digit(4, rng, canvas=280)
    pad[:, 380:660] = np.maximum(pad[:, 380:660], render_digit(7, rng, canvas=280))
    status, _, payload = request(server, "POST", "/api/predict", png_bytes(pad), {"Content-Type": "image/png"})
    assert status == 200, payload
    assert len(payload["number"]) == 2 and payload["number"] == "".join(str(d["digit"]) for d in payload["digits"])
    assert payload["digit"] is None and payload["probabilities"] is None and payload["preprocessed"] is None
    assert payload["digits"][0]["box"][2] <= 380 and payload["digits"][1]["box"][0] >= 300
    for digit in payload["digits"]:
        assert set(digit) == {"digit", "confidence", "probabilities", "box", "preprocessed"}
        assert decode_data_url(digit["preprocessed"]).shape == (28, 28)


def test_polarity_does_not_matter(server):
    white_on_black = request(server, "POST", "/api/predict", drawn_png(3, seed=5))[2]
    black_on_white = request(server, "POST", "/api/predict", drawn_png(3, seed=5, invert=True))[2]
    assert black_on_white["digit"] == white_on_black["digit"]
    np.testing.assert_allclose(black_on_white["probabilities"], white_on_black["probabilities"], atol=0.02)


@pytest.mark.parametrize(
    "body",
    [b"this is not a PNG", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b""],
    ids=["text", "truncated-png", "empty"],
)
def test_not_an_image_is_400(server, body):
    status, _, payload = request(server, "POST", "/api/predict", body)
    assert status == 400
    assert payload["status"] == 400 and payload["error"]


@pytest.mark.parametrize("value", [0, 255], ids=["black", "white"])
def test_blank_canvas_is_400(server, value):
    status, _, payload = request(server, "POST", "/api/predict", png_bytes(np.full((280, 280), value)))
    assert status == 400
    assert payload["error"]


def test_over_one_megabyte_is_413_before_the_body_is_read(server):
    # Only the headers are sent: the refusal must come from Content-Length alone.
    answer = raw_exchange(server, b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50000000\r\n\r\n")
    assert status_of(answer) == 413
    assert b'"status": 413' in answer


def test_a_real_oversized_body_is_413(server):
    status, _, payload = request(server, "POST", "/api/predict", os.urandom(1_100_000))
    assert status == 413
    assert "limit" in payload["error"]


def test_missing_or_invalid_content_length(server):
    assert status_of(raw_exchange(server, b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")) == 411
    assert (
        status_of(raw_exchange(server, b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ten\r\n\r\n"))
        == 400
    )
    assert (
        status_of(raw_exchange(server, b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n"))
        == 400
    )


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("GET", "/api/predict", "POST"),
        ("PUT", "/api/predict", "POST"),
        ("POST", "/api/health", "GET, HEAD"),
        ("DELETE", "/", "GET, HEAD"),
    ],
)
def test_wrong_method_is_405(server, method, path, allowed):
    status, response, payload = request(server, method, path, b"" if method in ("PUT", "POST") else None)
    assert status == 405
    assert response.getheader("Allow") == allowed
    assert payload["status"] == 405


def test_one_connection_serves_many_requests_and_survives_refusals(server):
    """The page keeps its connection open; a refused body must not be read as a next request."""
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    try:
        answers = []
        for method, path, body in [
            ("POST", "/api/predict", drawn_png(1)),
            ("POST", "/api/predict", drawn_png(2)),
            ("POST", "/api/health", b"GET /api/nothing HTTP/1.1\r\n\r\n" * 50),  # 405, body unread
            ("GET", "/api/nothing", None),  # 404 without a body: connection kept
            ("GET", "/api/health", None),
        ]:
            conn.request(method, path, body=body)
            response = conn.getresponse()
            answers.append((response.status, json.loads(response.read())))
    finally:
        conn.close()
    assert [status for status, _ in answers] == [200, 200, 405, 404, 200]
    assert answers[-1][1]["status"] == "ok"


@pytest.mark.parametrize(
    "path",
    [
        "/api/nothing",
        "/nothing.html",
        "/web.py",
        "/__init__.py",
        "/../web.py",
        "/static/app.js",
        "/%2e%2e/web.py",
        "/..%2fweb.py",
        "/.hidden.css",
    ],
)
def test_unknown_paths_and_traversal_are_404(server, path):
    status, _, payload = request(server, "GET", path)
    assert status == 404
    assert payload["status"] == 404


@pytest.mark.parametrize(
    "path, content_type, marker",
    [
        ("/", "text/html", b'id="pad"'),
        ("/app.js", "text/javascript", b"api/predict"),
        ("/style.css", "text/css", b"#pad"),
    ],
)
def test_static_files_come_from_the_package(server, path, content_type, marker):
    status, response, body = request(server, "GET", path)
    assert status == 200
    assert response.getheader("Content-Type").startswith(content_type)
    assert marker in body
    # The page may load nothing from other sites.
    assert "default-src 'self'" in response.getheader("Content-Security-Policy")


def test_page_loads_nothing_from_the_internet():
    from importlib import resources

    for name in ("index.html", "app.js", "style.css"):
        text = resources.files("digitnet").joinpath("static", name).read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, name


def test_concurrent_burst_with_a_silent_client(server):
    bodies = [drawn_png(d, seed=d) for d in range(10)]
    silent = socket.create_connection(server.server_address[:2])  # connects, sends nothing
    stalled = socket.create_connection(server.server_address[:2])  # promises a body, sends 10 bytes
    stalled.sendall(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n0123456789")
    try:
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda i: request(server, "POST", "/api/predict", bodies[i % 10]), range(20)))
        elapsed = time.monotonic() - start
        assert [status for status, _, _ in results] == [200] * 20
        assert elapsed < SILENT_CLIENT_TIMEOUT, (
            f"the burst took {elapsed:.1f} s: something waited for the silent clients"
        )
        # The same drawing always gets the same answer, whichever thread served it.
        for i, (_, _, payload) in enumerate(results[10:]):
            assert payload["probabilities"] == results[i][2]["probabilities"]
        # The silent client is dropped after the socket timeout, not kept forever.
        silent.settimeout(SILENT_CLIENT_TIMEOUT + 3)
        try:
            assert silent.recv(1024) == b""
        except ConnectionResetError:
            pass
    finally:
        silent.close()
        stalled.close()
    assert request(server, "GET", "/api/health")[0] == 200


def test_too_many_connections_get_503(predictor):
    from digitnet.web import bind_server, serve_in_thread

    srv = bind_server("127.0.0.1", 0, predictor, max_connections=2, socket_timeout=SILENT_CLIENT_TIMEOUT)
    thread = serve_in_thread(srv)
    holders = [socket.create_connection(srv.server_address[:2]) for _ in range(2)]
    try:
        time.sleep(0.3)  # let the server accept the two holders
        assert status_of(raw_exchange(srv, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")) == 503
    finally:
        for sock in holders:
            sock.close()
    time.sleep(0.3)  # their threads end and give the slots back
    assert request(srv, "GET", "/api/health")[0] == 200
    srv.shutdown()
    srv.server_close()
    thread.join(5)


# --------------------------------------------------------------------------- the command


def test_draw_port_in_use_is_one_line_error(trained_model_path):
    from digitnet.cli import cli

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["draw", "--model", str(trained_model_path), "--port", str(port), "--no-open"])
    assert result.exit_code == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.output
    assert "Traceback" not in result.output


def test_draw_missing_model_is_one_line_error(tmp_path):
    from digitnet.cli import cli

    result = CliRunner().invoke(cli, ["draw", "--model", str(tmp_path / "none.keras"), "--port", "0", "--no-open"])
    assert result.exit_code == 1
    assert "no such model file" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_draw_serves_and_stops_cleanly_on_ctrl_c(trained_model_path):
    """And answers through the model's LiteRT twin: TensorFlow is never imported."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "from digitnet.cli import main; main()",
            "draw",
            "--model",
            str(trained_model_path),
            "--port",
            "0",
            "--no-open",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "serving" in line, line + process.stderr.read()
        url = line.split(" at ", 1)[1].split()[0]
        host_port = url.removeprefix("http://").rstrip("/")
        assert host_port.startswith("127.0.0.1:")
        conn = http.client.HTTPConnection(host_port, timeout=10)
        conn.request("GET", "/api/health")
        health = conn.getresponse()
        health.read()
        assert health.status == 200
        conn.request("POST", "/api/predict", body=drawn_png(4), headers={"Content-Type": "image/png"})
        assert conn.getresponse().status == 200
        conn.close()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "stopped" in stdout
    assert "Traceback" not in stderr
    imported = [row.rsplit("|", 1)[-1].strip() for row in stderr.splitlines() if row.startswith("import time:")]
    assert "ai_edge_litert" in imported
    assert not [name for name in imported if name.split(".")[0] in ("tensorflow", "keras")]


# --------------------------------------------------------------------------- the Host header and the runtime


@pytest.mark.parametrize(
    "host", ["evil.example:8000", "evil.example", "attacker.test.:80", "10.1.2.3:8000", "", "[::2]:8000"]
)
def test_a_foreign_host_header_is_refused(server, host):
    """A page elsewhere rebinding its name to 127.0.0.1 (DNS rebinding) must not reach the API."""
    status, _, payload = request(server, "GET", "/api/health", headers={"Host": host})
    assert status == 403
    assert "is not an address of this server" in payload["error"]
    png = drawn_png(3)
    status, _, _ = request(
        server, "POST", "/api/predict", body=png, headers={"Host": host, "Content-Type": "image/png"}
    )
    assert status == 403


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "127.0.0.1", "[::1]:{port}"])
def test_the_served_address_and_localhost_are_accepted(server, host):
    port = server.server_address[1]
    status, _, _ = request(server, "GET", "/api/health", headers={"Host": host.format(port=port)})
    assert status == 200


def test_host_check_for_other_listening_addresses():
    from digitnet.web import DrawServer

    everywhere = DrawServer(("0.0.0.0", 0), None)
    named = DrawServer(("localhost", 0), None)
    try:
        assert everywhere.serves_host("192.168.1.20:8000") and everywhere.serves_host("localhost:8000")
        assert not everywhere.serves_host("evil.example:8000")
        assert named.serves_host("localhost:8000") and not named.serves_host("evil.example")
    finally:
        everywhere.server_close()
        named.server_close()
