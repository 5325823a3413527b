"""The page of `mnist serve` and the offline app of `mnist export --format web`, in a real
headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

Digits are drawn with real pointer events (WebDriver actions: mouse, pen and touch): the
strokes are traced from a fixture digit's skeleton. Skipped when Chromium, its driver or
Selenium is missing (.ci/run installs them).

MNIST_SCREENSHOTS=DIR also saves the desktop and phone screenshots there (the README's
pictures: MNIST_SCREENSHOTS=docs/images).
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURE_IMAGES, TINY_DATA

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("Chromium and chromedriver are not installed "
                "(apt-get install chromium chromium-driver)", allow_module_level=True)

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.actions import interaction  # noqa: E402
from selenium.webdriver.common.actions.action_builder import ActionBuilder  # noqa: E402
from selenium.webdriver.common.actions.pointer_input import PointerInput  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow

DRAWN = ["2_large_scan.png", "3_black_on_white.png", "4_photo_crop.jpg",
         "5_rgba_canvas.png", "7_white_on_black.png"]
PHONE = {"width": 375, "height": 740}
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--force-color-profile=srgb",
]


# ------------------------------------------------------------------------------ helpers


def _label(path: Path) -> int:
    return int(path.name[0])


def digit_strokes(path: Path) -> list[list[tuple[float, float]]]:
    """Pen strokes tracing a fixture digit: its 28x28 preprocessed image, thinned to a
    one-pixel skeleton (Zhang-Suen), walked into polylines. Points are in [0, 1]."""
    from mnistcli.preprocess import load_image, preprocess

    pixels = preprocess(load_image(path.read_bytes()))
    skeleton = _thin(pixels >= 96)
    left = {(int(r), int(c)) for r, c in zip(*np.nonzero(skeleton), strict=True)}
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)]

    def neighbours(point):
        return [(point[0] + dr, point[1] + dc) for dr, dc in steps
                if (point[0] + dr, point[1] + dc) in left]

    strokes = []
    while left:
        start = min(left, key=lambda p: (len(neighbours(p)), p))  # an end if there is one
        stroke = [start]
        left.discard(start)
        while True:
            following = neighbours(stroke[-1])
            if not following:
                break
            stroke.append(following[0])
            left.discard(following[0])
        strokes.append(_smooth([((c + 0.5) / 28, (r + 0.5) / 28) for r, c in stroke]))
    return strokes


def _smooth(points: list[tuple[float, float]], rounds: int = 2) -> list[tuple[float, float]]:
    """A hand's stroke rather than pixel steps: a moving average, ends kept."""
    for _ in range(rounds):
        if len(points) < 3:
            break
        points = [points[0], *[tuple((a + b + c) / 3 for a, b, c in
                                     zip(points[i - 1], points[i], points[i + 1], strict=True))
                               for i in range(1, len(points) - 1)], points[-1]]
    return points


def _thin(mask: np.ndarray) -> np.ndarray:
    image = np.pad(mask.astype(np.uint8), 1)
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            p = [np.roll(np.roll(image, -dr, 0), -dc, 1) for dr, dc in
                 [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]]
            neighbours = sum(p)
            transitions = sum(((p[i] == 0) & (p[(i + 1) % 8] == 1)).astype(int)
                              for i in range(8))
            if step == 0:
                keep = (p[0] * p[2] * p[4] == 0) & (p[2] * p[4] * p[6] == 0)
            else:
                keep = (p[0] * p[2] * p[6] == 0) & (p[0] * p[4] * p[6] == 0)
            remove = ((image == 1) & (neighbours >= 2) & (neighbours <= 6)
                      & (transitions == 1) & keep)
            if remove.any():
                image[remove] = 0
                changed = True
    return image[1:-1, 1:-1].astype(bool)


def draw(driver, strokes, kind: str = interaction.POINTER_MOUSE) -> None:
    """Draw ``strokes`` on the pad with real pointer input of ``kind``."""
    pad = driver.find_element(By.ID, "pad")
    width, height = pad.size["width"], pad.size["height"]
    pointer = PointerInput(kind, kind)
    actions = ActionBuilder(driver, mouse=pointer, duration=5)

    def at(point):  # WebDriver offsets count from the element's centre
        return (round((point[0] - 0.5) * width * 0.8), round((point[1] - 0.5) * height * 0.8))

    for stroke in strokes:
        x, y = at(stroke[0])
        actions.pointer_action.move_to(pad, x, y)
        actions.pointer_action.pointer_down()
        for point in stroke[1:]:
            x, y = at(point)
            actions.pointer_action.move_to(pad, x, y)
        actions.pointer_action.pointer_up()
    actions.perform()


def answer(driver, timeout: float = 10) -> tuple[str, str]:
    """(the digit shown, the message) once the page has answered everything asked."""
    def settled(d):
        state = d.execute_script(
            "return [document.body.dataset.busy || '', "
            "document.getElementById('digit').dataset.state]")
        return state[0] == "" and state[1] in ("answer", "error")

    time.sleep(0.05)
    WebDriverWait(driver, timeout).until(settled)
    return (driver.find_element(By.ID, "digit").text,
            driver.find_element(By.ID, "message").text)


def clear(driver) -> None:
    driver.find_element(By.ID, "clear").click()
    assert driver.find_element(By.ID, "digit").text == "?"


def seen_pixels(driver) -> np.ndarray:
    """The 28x28 image the page shows as what the model saw."""
    data = driver.execute_script(
        "return Array.from(document.getElementById('seen').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data)")
    return np.array(data, dtype=np.uint8).reshape(28, 28, 4)[..., 0]


def pad_png(driver) -> bytes:
    url = driver.execute_script("return document.getElementById('pad').toDataURL()")
    return base64.b64decode(url.split(",", 1)[1])


def save_screenshot(driver, name: str, tmp_path: Path, full_page: bool = False) -> Path:
    path = tmp_path / name
    if full_page:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        width = driver.execute_script("return document.documentElement.clientWidth")
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
        path.write_bytes(base64.b64decode(shot["data"]))
    else:
        driver.save_screenshot(str(path))
    target = os.environ.get("MNIST_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(target) / name)
    return path


def make_driver(phone: bool = False):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="mnist-chromium-")
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    if phone:
        options.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {**PHONE, "pixelRatio": 2, "touch": True},
            "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
                         "(KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36"})
    else:
        options.add_argument("--window-size=1200,1000")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver.profile_dir = profile
    return driver


def quit_driver(driver) -> None:
    driver.quit()
    shutil.rmtree(driver.profile_dir, ignore_errors=True)


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`mnist serve` (the shipped model) on a free loopback port: its URL."""
    home = tmp_path_factory.mktemp("serve_home")
    env = {**os.environ, "MNIST_HOME": str(home), "NO_COLOR": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mnistcli", "serve", "--port", "0", "--no-access-log"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.stderr.read()
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(url + "healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=10)  # and closes the pipes


@pytest.fixture(scope="module")
def desktop():
    driver = make_driver()
    yield driver
    quit_driver(driver)


@pytest.fixture(scope="module")
def phone():
    driver = make_driver(phone=True)
    yield driver
    quit_driver(driver)


@pytest.fixture
def page(desktop, server):
    desktop.get(server)
    WebDriverWait(desktop, 10).until(
        lambda d: d.execute_script("return document.body.dataset.ready") == "1")
    return desktop


# ------------------------------------------------------------------------------ served page


@pytest.mark.parametrize("name", DRAWN)
def test_drawn_digit_is_read(page, name):
    path = FIXTURE_IMAGES / name
    draw(page, digit_strokes(path))
    digit, message = answer(page)
    assert digit == str(_label(path)), message
    # the 28x28 shown is the server's preprocessing of what was drawn
    from mnistcli.preprocess import load_image, preprocess

    expected = preprocess(load_image(pad_png(page)))
    assert np.abs(seen_pixels(page).astype(int) - expected).max() <= 1
    bars = page.find_elements(By.CSS_SELECTOR, "#bars li")
    assert len(bars) == 10
    assert [li.get_attribute("data-digit") for li in bars if "best" in
            li.get_attribute("class")] == [digit]


def test_pen_strokes_are_read_and_clear_resets(page):
    path = FIXTURE_IMAGES / "3_black_on_white.png"
    draw(page, digit_strokes(path), kind=interaction.POINTER_PEN)
    assert answer(page)[0] == "3"
    clear(page)
    assert page.find_element(By.ID, "message").text == "Draw a digit to start."
    assert seen_pixels(page).max() == 0
    assert page.execute_script(
        "var p = document.getElementById('pad'); return p.getContext('2d')"
        ".getImageData(0, 0, p.width, p.height).data.some(v => v !== 0)") is False


LIFT_TO_ANSWER = """
var pad = document.getElementById('pad'), done = arguments[arguments.length - 1], start;
var watch = new MutationObserver(function () {
  if (!document.body.dataset.busy) { watch.disconnect(); done(performance.now() - start); }
});
watch.observe(document.body, {attributes: true});
var r = pad.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 3;
function ev(type, dy) {
  pad.dispatchEvent(new PointerEvent(type, {pointerId: 9, bubbles: true, clientX: x,
    clientY: y + dy, pointerType: 'pen', isPrimary: true}));
}
ev('pointerdown', 0); ev('pointermove', r.height / 3);
start = performance.now(); ev('pointerup', r.height / 3);
"""


def test_answer_follows_the_pen_quickly(page):
    """The answer is on screen within ~100 ms of the pen lifting: the page asks at once
    (no debounce), and the server answers a drawing in milliseconds. The best of five
    lifts, so that a busy machine's scheduling does not decide."""
    draw(page, digit_strokes(FIXTURE_IMAGES / "7_white_on_black.png"))
    answer(page)
    took = []
    for _ in range(5):
        took.append(page.execute_async_script(LIFT_TO_ANSWER))
        answer(page)
    assert min(took) < 100, took


def test_uploaded_file_is_read(page):
    path = FIXTURE_IMAGES / "9_exif_rotated.jpg"
    page.find_element(By.ID, "file").send_keys(str(path))
    digit, message = answer(page)
    assert digit == "9", message
    assert message.startswith("From your image.")
    # the upload is shown on the pad
    assert page.execute_script(
        "var p = document.getElementById('pad'); return p.getContext('2d')"
        ".getImageData(0, 0, p.width, p.height).data.some(v => v !== 0)") is True


def test_dropped_file_is_read(page):
    """Drag and drop onto the pad: a drop event carrying the fixture file."""
    path = FIXTURE_IMAGES / "5_rgba_canvas.png"
    page.execute_script("""
        var bytes = Uint8Array.from(atob(arguments[0]), function (c) { return c.charCodeAt(0); });
        var transfer = new DataTransfer();
        transfer.items.add(new File([bytes], arguments[1], {type: 'image/png'}));
        var zone = document.getElementById('dropzone');
        zone.dispatchEvent(new DragEvent('dragenter', {dataTransfer: transfer, bubbles: true}));
        zone.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true}));
    """, base64.b64encode(path.read_bytes()).decode("ascii"), path.name)
    digit, message = answer(page)
    assert digit == "5", message
    assert "dragging" not in page.find_element(By.ID, "dropzone").get_attribute("class")


def test_upload_that_is_not_an_image_is_explained(page, tmp_path):
    bogus = tmp_path / "notes.png"
    bogus.write_bytes(b"these are not the pixels you are looking for")
    page.find_element(By.ID, "file").send_keys(str(bogus))
    digit, message = answer(page)
    assert digit == "?"
    assert message.startswith("Could not read that:") and "not an image" in message


def test_blank_canvas_gets_a_kind_error(page):
    page.find_element(By.ID, "predict").click()
    digit, message = answer(page)
    assert digit == "?"
    assert message == ("The box is empty: draw a digit first (one digit, large, in the "
                       "middle).")
    assert "error" in page.find_element(By.ID, "message").get_attribute("class")


def test_keyboard_reads_and_clears(page):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    def press(key):
        ActionChains(page).send_keys(key).perform()

    press(Keys.TAB)  # the pad is the first thing to focus
    assert page.switch_to.active_element.get_attribute("id") == "pad"
    draw(page, digit_strokes(FIXTURE_IMAGES / "7_white_on_black.png"))
    assert answer(page)[0] == "7"
    press(Keys.DELETE)
    assert page.find_element(By.ID, "digit").text == "?"
    press(Keys.ENTER)
    assert answer(page)[1].startswith("The box is empty")
    # every control is reachable from the keyboard: clear, read, upload
    reached = []
    for _ in range(3):
        press(Keys.TAB)
        reached.append(page.switch_to.active_element.get_attribute("id"))
    assert reached == ["clear", "predict", "file"]
    ActionChains(page).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
    assert page.switch_to.active_element.get_attribute("id") == "predict"
    press(Keys.ENTER)  # "Read it" from the keyboard
    assert answer(page)[1].startswith("The box is empty")


def test_page_loads_nothing_from_elsewhere(page, server):
    resources = page.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(name.startswith(server) for name in resources)
    assert page.find_element(By.ID, "model").text.startswith("cnn")
    assert "99.54%" in page.find_element(By.ID, "model").text


def test_desktop_screenshot(page, tmp_path):
    draw(page, digit_strokes(FIXTURE_IMAGES / "3_black_on_white.png"))
    assert answer(page)[0] == "3"
    shot = save_screenshot(page, "serve-desktop.png", tmp_path)
    from PIL import Image

    with Image.open(shot) as image:
        assert image.width >= 1000


def test_phone_viewport(phone, server, tmp_path):
    phone.get(server)
    WebDriverWait(phone, 10).until(
        lambda d: d.execute_script("return document.body.dataset.ready") == "1")
    width = phone.execute_script("return window.innerWidth")
    assert width == PHONE["width"]
    # nothing sticks out sideways; the pad fits the screen; the camera button shows
    assert phone.execute_script("return document.documentElement.scrollWidth") <= width
    pad = phone.find_element(By.ID, "pad")
    assert 250 <= pad.size["width"] <= width - 20
    camera = phone.find_element(By.CSS_SELECTOR, ".camera-button")
    assert camera.is_displayed()
    assert phone.find_element(By.ID, "camera").get_attribute("capture") == "environment"
    path = FIXTURE_IMAGES / "4_photo_crop.jpg"
    draw(phone, digit_strokes(path), kind=interaction.POINTER_TOUCH)
    digit, message = answer(phone)
    assert digit == "4", message
    # after drawing, the answer is on screen without scrolling
    assert phone.execute_script(
        "return document.getElementById('digit').getBoundingClientRect().bottom") \
        <= PHONE["height"]
    save_screenshot(phone, "serve-phone.png", tmp_path)
    save_screenshot(phone, "serve-phone-full.png", tmp_path, full_page=True)
    clear(phone)
    phone.find_element(By.ID, "predict").click()
    assert answer(phone)[1].startswith("The box is empty")


# ------------------------------------------------------------------------------ offline app


@pytest.fixture(scope="module")
def offline_app(tmp_path_factory):
    """A dense network trained on the tiny fixture, exported with --format web."""
    from mnistcli.export import export_model
    from mnistcli.recipes import make_config
    from mnistcli.training import train

    parent = tmp_path_factory.mktemp("web_export")
    config = make_config("mlp", epochs=5, batch_size=32, seed=1, validation=100,
                         data_dir=TINY_DATA)
    run = train(config, out=parent / "mlp").run.path
    out = parent / "app"
    export_model(run / "model.keras", run, "web", out=out)
    return run, out


ENGINE = """
var b64 = arguments[0], done = arguments[arguments.length - 1];
var bytes = Uint8Array.from(atob(b64), function (c) { return c.charCodeAt(0); });
createImageBitmap(new Blob([bytes]), {premultiplyAlpha: 'none', colorSpaceConversion: 'none'})
  .then(function (bitmap) {
    var c = document.createElement('canvas');
    c.width = bitmap.width; c.height = bitmap.height;
    var x = c.getContext('2d'); x.drawImage(bitmap, 0, 0);
    var image = x.getImageData(0, 0, c.width, c.height);
    var pixels = MnistEngine.preprocess(image.data, image.width, image.height);
    var p = MnistEngine.forward(MnistEngine.loadModel(window.MNIST_MODEL), pixels);
    done({pixels: Array.from(pixels), probabilities: Array.from(p)});
  }).catch(function (e) { done({error: String(e && e.message || e)}); });
"""


def test_offline_app_matches_python_on_every_fixture(desktop, offline_app):
    """The exported page, opened from disk, computes what the Python model does: the same
    28x28 (to within one grey level: browsers decode 16-bit PNGs to 8 bits) and the same
    digit, probabilities within 1e-3, for every fixture image."""
    from mnistcli.inference import load_predictor
    from mnistcli.preprocess import load_image, preprocess

    run, app = offline_app
    predictor = load_predictor(run / "model.tflite")
    desktop.get((app / "index.html").as_uri())
    WebDriverWait(desktop, 10).until(
        lambda d: d.execute_script("return document.body.dataset.ready") == "1")
    assert "runs in this browser" in desktop.find_element(By.ID, "model").text
    images = sorted(p for p in FIXTURE_IMAGES.rglob("*") if p.is_file())
    assert len(images) >= 30
    for path in images:
        page = desktop.execute_async_script(ENGINE, base64.b64encode(path.read_bytes())
                                            .decode("ascii"))
        assert "error" not in page, (path.name, page)
        expected = preprocess(load_image(path.read_bytes()))
        pixels = np.array(page["pixels"], dtype=int).reshape(28, 28)
        assert np.abs(pixels - expected).max() <= 1, path.name
        python = predictor.predict_proba(expected[None])[0]
        javascript = np.array(page["probabilities"])
        assert int(np.argmax(javascript)) == int(np.argmax(python)), path.name
        assert np.abs(javascript - python).max() < 1e-3, path.name


def test_offline_app_draw_upload_and_blank(desktop, offline_app, tmp_path):
    from PIL import Image

    from mnistcli.inference import load_predictor
    from mnistcli.preprocess import load_image, preprocess

    run, app = offline_app
    predictor = load_predictor(run / "model.tflite")
    desktop.get((app / "index.html").as_uri())
    WebDriverWait(desktop, 10).until(
        lambda d: d.execute_script("return document.body.dataset.ready") == "1")
    # drawn: the page's answer is the Python model's answer for the same drawing
    draw(desktop, digit_strokes(FIXTURE_IMAGES / "7_white_on_black.png"))
    digit, _ = answer(desktop)
    drawing = pad_png(desktop)
    with Image.open(io.BytesIO(drawing)) as image:
        expected = predictor.predict_proba(preprocess(load_image(drawing))[None])[0]
        assert image.size == (280, 280)
    assert digit == str(int(np.argmax(expected)))
    save_screenshot(desktop, "export-web-offline.png", tmp_path)
    # uploaded
    path = FIXTURE_IMAGES / "3_black_on_white.png"
    desktop.find_element(By.ID, "file").send_keys(str(path))
    digit, _ = answer(desktop)
    assert digit == str(int(np.argmax(
        predictor.predict_proba(preprocess(load_image(path.read_bytes()))[None])[0])))
    # blank
    clear(desktop)
    desktop.find_element(By.ID, "predict").click()
    assert answer(desktop)[1].startswith("The box is empty")
    # no request left the page's directory
    resources = desktop.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(name.startswith(app.as_uri()) for name in resources)
