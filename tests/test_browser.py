"""`digitnet draw` end to end in a real headless browser (Debian's Chromium via Selenium).

Strokes are drawn with W3C pointer actions (mouse, touch and pen), exactly as a
person's input reaches the page, then the page's answer is compared with what the
API says about the same pad.  Skipped when Chromium, its driver or Selenium is
missing.

Two knobs for making the README's screenshot with a real model:
DIGITNET_DRAW_MODEL=path serves that model instead of the tiny test model, and
DIGITNET_SCREENSHOT=path keeps a copy of the screenshot the test takes.
"""

from __future__ import annotations

import base64
import http.client
import importlib.util
import json
import math
import os
import shutil

import pytest

PAGE_TIMEOUT = 20  # seconds to wait for the page or a prediction
INSTALL_HINT = "needs Chromium and its driver: apt-get install chromium chromium-driver (and pip install selenium)"

# Digits as strokes in pad coordinates (0–1, y down): how a person draws them, roughly.
STROKES = {
    "0": [
        [(0.5 + 0.2 * math.sin(t / 20 * 2 * math.pi), 0.5 - 0.32 * math.cos(t / 20 * 2 * math.pi)) for t in range(21)]
    ],
    "1": [[(0.40, 0.28), (0.53, 0.16), (0.53, 0.84)]],
    "2": [
        [(0.5 + 0.18 * math.cos(math.radians(a)), 0.34 + 0.17 * math.sin(math.radians(a))) for a in range(200, 391, 15)]
        + [(0.30, 0.82), (0.72, 0.82)]
    ],
    "3": [
        [
            (0.30, 0.20),
            (0.52, 0.15),
            (0.66, 0.24),
            (0.64, 0.38),
            (0.46, 0.48),
            (0.66, 0.58),
            (0.68, 0.73),
            (0.52, 0.84),
            (0.30, 0.80),
        ]
    ],
    "4": [[(0.58, 0.16), (0.28, 0.60), (0.74, 0.60)], [(0.60, 0.34), (0.60, 0.86)]],
    "5": [
        [(0.68, 0.17), (0.36, 0.17), (0.33, 0.46), (0.52, 0.42), (0.67, 0.52), (0.68, 0.70), (0.54, 0.83), (0.30, 0.80)]
    ],
    "6": [
        [
            (0.64, 0.17),
            (0.44, 0.30),
            (0.33, 0.52),
            (0.35, 0.74),
            (0.50, 0.84),
            (0.65, 0.74),
            (0.64, 0.56),
            (0.50, 0.50),
            (0.35, 0.58),
        ]
    ],
    "7": [[(0.28, 0.20), (0.72, 0.20), (0.44, 0.86)]],
    "8": [
        [
            (0.62, 0.24),
            (0.50, 0.16),
            (0.37, 0.24),
            (0.40, 0.38),
            (0.60, 0.56),
            (0.64, 0.74),
            (0.50, 0.84),
            (0.36, 0.74),
            (0.40, 0.56),
            (0.60, 0.38),
            (0.62, 0.24),
        ]
    ],
    "9": [
        [(0.64, 0.30), (0.50, 0.18), (0.36, 0.28), (0.38, 0.44), (0.54, 0.48), (0.64, 0.34), (0.62, 0.60), (0.56, 0.86)]
    ],
}


# --------------------------------------------------------------------------- browser


def _find(name: str, fallback: str) -> str | None:
    path = shutil.which(name) or fallback
    return path if os.path.exists(path) else None


CHROMIUM = _find("chromium", "/usr/bin/chromium")
CHROMEDRIVER = _find("chromedriver", "/usr/bin/chromedriver")
# Decided at collection, so a machine without a browser skips before training the test model.
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER and importlib.util.find_spec("selenium")), reason=INSTALL_HINT
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a browser or driver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1100,860",
        "--force-device-scale-factor=1",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(request):
    from digitnet.web import Predictor, bind_server, serve_in_thread

    model_path = os.environ.get("DIGITNET_DRAW_MODEL") or request.getfixturevalue("trained_model_path")
    srv = bind_server("127.0.0.1", 0, Predictor.load(model_path))
    thread = serve_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.fixture
def page(browser, server):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.url)
    # The page asks /api/health for the model's name first: once shown, the script is running.
    WebDriverWait(browser, PAGE_TIMEOUT).until(lambda d: ".keras" in d.find_element("id", "model-info").text)
    return browser


# --------------------------------------------------------------------------- drawing


def draw_strokes(driver, strokes, *, kind: str = "mouse", step_px: float = 8.0) -> None:
    """Draw polylines (pad coordinates 0–1) with real W3C pointer input of the given kind."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    pad = driver.find_element("id", "pad")
    rect = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width, r.height];", pad
    )
    left, top, width, height = rect
    pointer_kind = {
        "mouse": interaction.POINTER_MOUSE,
        "touch": interaction.POINTER_TOUCH,
        "pen": interaction.POINTER_PEN,
    }[kind]
    builder = ActionBuilder(driver, mouse=PointerInput(pointer_kind, kind), duration=0)
    pointer = builder.pointer_action

    def viewport(point):
        return int(round(left + point[0] * width)), int(round(top + point[1] * height))

    for stroke in strokes:
        pointer.move_to_location(*viewport(stroke[0]))
        pointer.pointer_down()
        for a, b in zip(stroke, stroke[1:], strict=False):
            (ax, ay), (bx, by) = viewport(a), viewport(b)
            steps = max(1, int(math.hypot(bx - ax, by - ay) / step_px))
            for i in range(1, steps + 1):
                pointer.move_to_location(int(round(ax + (bx - ax) * i / steps)), int(round(ay + (by - ay) * i / steps)))
        pointer.pointer_up()
    builder.perform()


def wait_for_prediction(driver) -> None:
    """Until the page has answered for everything on the pad (no request queued or in flight)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, PAGE_TIMEOUT).until(
        lambda d: (
            d.find_element("id", "pad").get_attribute("data-state") == "done"
            and d.find_element("id", "digit").text != ""
        )
    )


def pad_png(driver) -> bytes:
    url = driver.execute_script("return document.getElementById('pad').toDataURL('image/png');")
    return base64.b64decode(url.split(",", 1)[1])


def api_predict(server, body: bytes) -> dict:
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    try:
        conn.request("POST", "/api/predict", body=body, headers={"Content-Type": "image/png"})
        response = conn.getresponse()
        assert response.status == 200
        return json.loads(response.read())
    finally:
        conn.close()


def shown(driver) -> dict:
    """What the page shows: digit, confidence text, bar widths and labels, preview."""
    return driver.execute_script(
        """
        const bars = [...document.querySelectorAll('#bars .bar')];
        const preview = document.getElementById('preview');
        return {
          digit: document.getElementById('digit').textContent,
          confidence: document.getElementById('confidence').textContent,
          bars: bars.map(b => ({digit: b.dataset.digit, width: parseFloat(b.querySelector('.fill').style.width) || 0,
                                 value: b.querySelector('.value').textContent, top: b.classList.contains('top')})),
          preview: {hidden: preview.hidden, src: preview.getAttribute('src') || '',
                    natural: [preview.naturalWidth, preview.naturalHeight],
                    shownSize: [preview.getBoundingClientRect().width, preview.getBoundingClientRect().height],
                    rendering: getComputedStyle(preview).imageRendering},
        };
        """
    )


def severe_console_messages(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("digit, kind", [("7", "mouse"), ("1", "touch"), ("4", "pen")])
def test_drawn_digit_gets_the_apis_prediction(page, server, digit, kind, tmp_path):
    draw_strokes(page, STROKES[digit], kind=kind)
    wait_for_prediction(page)
    on_page = shown(page)
    expected = api_predict(server, pad_png(page))

    assert on_page["digit"] == str(expected["digit"])
    assert float(on_page["confidence"].rstrip("%")) == pytest.approx(100 * expected["confidence"], abs=0.06)
    # Ten bars, one per digit, as long as the probabilities; the predicted one highlighted.
    assert [bar["digit"] for bar in on_page["bars"]] == [str(d) for d in range(10)]
    assert [bar["width"] for bar in on_page["bars"]] == pytest.approx(
        [100 * p for p in expected["probabilities"]], abs=0.01
    )
    assert [bar["digit"] for bar in on_page["bars"] if bar["top"]] == [str(expected["digit"])]
    assert all(bar["value"].endswith("%") for bar in on_page["bars"])
    # The preview is the 28×28 image the model saw, scaled up with hard pixel edges.
    assert not on_page["preview"]["hidden"]
    assert on_page["preview"]["src"] == expected["preprocessed"]
    assert on_page["preview"]["natural"] == [28, 28]
    assert on_page["preview"]["shownSize"][0] >= 28 * 3
    assert on_page["preview"]["rendering"] in ("pixelated", "crisp-edges")
    assert severe_console_messages(page) == []

    if kind == "mouse":
        path = tmp_path / "draw-page.png"
        page.save_screenshot(str(path))
        assert path.stat().st_size > 10_000
        if os.environ.get("DIGITNET_SCREENSHOT"):
            page.save_screenshot(os.environ["DIGITNET_SCREENSHOT"])


def test_prediction_updates_while_drawing(page):
    """A long stroke held down gets an answer before the pointer is lifted."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput
    from selenium.webdriver.support.ui import WebDriverWait

    pad = page.find_element("id", "pad")
    left, top, width, height = page.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width, r.height];", pad
    )
    builder = ActionBuilder(page, mouse=PointerInput(interaction.POINTER_MOUSE, "mouse"), duration=0)
    builder.pointer_action.move_to_location(int(left + width * 0.5), int(top + height * 0.2))
    builder.pointer_action.pointer_down()
    for i in range(1, 31):
        builder.pointer_action.move_to_location(int(left + width * 0.5), int(top + height * (0.2 + 0.02 * i)))
    builder.perform()  # the button is still down
    WebDriverWait(page, PAGE_TIMEOUT).until(lambda d: d.find_element("id", "digit").text != "")
    assert page.execute_script("return document.getElementById('pad').dataset.state") in ("busy", "done")
    builder.clear_actions()
    builder.pointer_action.pointer_up()
    builder.perform()
    wait_for_prediction(page)


def test_a_two_digit_number_on_the_wide_pad(page, server):
    """The toggle widens the pad; a 4 and a 7 drawn side by side are read as a number, digit by digit."""
    from selenium.webdriver.support.ui import WebDriverWait

    page.find_element("id", "mode").click()
    assert page.find_element("id", "mode").get_attribute("aria-pressed") == "true"
    width, height = page.execute_script("const p = document.getElementById('pad'); return [p.width, p.height];")
    assert width > 2 * height
    # Each digit's strokes squeezed into its own part of the pad (x scaled into a third of the width).
    left = [[(0.05 + x / 3, y) for x, y in stroke] for stroke in STROKES["4"]]
    right = [[(0.45 + x / 3, y) for x, y in stroke] for stroke in STROKES["7"]]
    draw_strokes(page, left + right)
    WebDriverWait(page, PAGE_TIMEOUT).until(
        lambda d: (
            d.find_element("id", "pad").get_attribute("data-state") == "done"
            and len(d.find_element("id", "digit").text) == 2
        )
    )
    expected = api_predict(server, pad_png(page))
    assert page.find_element("id", "digit").text == expected["number"]
    items = page.find_elements("css selector", "#digits .read-digit")
    assert [item.find_element("css selector", ".guess").text for item in items] == [
        str(d["digit"]) for d in expected["digits"]
    ]
    assert [item.find_element("tag name", "img").get_attribute("src") for item in items] == [
        d["preprocessed"] for d in expected["digits"]
    ]
    assert not page.find_element("id", "digits").get_attribute("hidden")
    page.find_element("id", "mode").click()  # back to one digit: a square pad, emptied
    assert page.execute_script("const p = document.getElementById('pad'); return p.width === p.height;")
    assert page.find_element("id", "digit").text == ""


def test_clear_empties_the_pad_and_the_answer(page):
    draw_strokes(page, STROKES["7"])
    wait_for_prediction(page)
    page.find_element("id", "clear").click()
    on_page = shown(page)
    assert on_page["digit"] == "" and on_page["confidence"] == ""
    assert all(bar["width"] == 0 and not bar["top"] for bar in on_page["bars"])
    assert on_page["preview"]["hidden"]
    assert page.find_element("id", "pad").get_attribute("data-state") in ("empty", "busy")
    # The pad is black again: the blank pad is what the API calls blank.
    conn = http.client.HTTPConnection(*page.current_url.removeprefix("http://").rstrip("/").split(":"), timeout=10)
    conn.request("POST", "/api/predict", body=pad_png(page))
    assert conn.getresponse().status == 400
    conn.close()


def test_pad_is_square_and_does_not_scroll_on_touch(page):
    style = page.execute_script(
        "const p = document.getElementById('pad'); const r = p.getBoundingClientRect();"
        "return [r.width, r.height, getComputedStyle(p).touchAction];"
    )
    assert style[0] == pytest.approx(style[1], abs=1)
    assert style[0] >= 280
    assert style[2] == "none"
