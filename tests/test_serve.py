"""mnist serve: the ASGI app (through Starlette's TestClient), the command (as a real
process on a free loopback port), and mnist export --format web without a browser
(tests/test_browser.py drives both pages in Chromium)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURE_IMAGES, REPO
from PIL import Image

pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx")

from starlette.testclient import TestClient  # noqa: E402

from mnistcli.errors import ModelError  # noqa: E402

DIGIT = FIXTURE_IMAGES / "7_white_on_black.png"


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def bomb_png(side: int = 100_000) -> bytes:
    """A tiny PNG whose header claims side x side pixels (10 gigapixels)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return (len(data).to_bytes(4, "big") + body
                + (zlib.crc32(body) & 0xFFFFFFFF).to_bytes(4, "big"))

    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def shipped():
    from mnistcli.inference import load_predictor
    from mnistcli.runs import shipped_model

    run = shipped_model()
    return run, load_predictor(run.model_file())


def make_client(shipped, **options) -> TestClient:
    from mnistcli.serve import create_app

    run, predictor = shipped
    return TestClient(create_app(run, predictor, **options), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(shipped):
    return make_client(shipped)


def expected_record(path: Path, shipped, name: str, top: int = 1) -> dict:
    from mnistcli.predicting import NamedImage, predict_sources

    _, predictor = shipped
    [prediction] = predict_sources([NamedImage(name, path.read_bytes())], predictor)
    return {**prediction.record(top=top), "pixels": prediction.pixels.tolist()}


# ------------------------------------------------------------------------------ the API


def test_raw_body_gives_the_predict_record_and_pixels(client, shipped):
    response = client.post("/api/predict?top=3", content=DIGIT.read_bytes(),
                           headers={"content-type": "image/png"})
    assert response.status_code == 200
    record = response.json()
    assert record == expected_record(DIGIT, shipped, "-", top=3)
    assert record["digit"] == 7 and len(record["top"]) == 3
    pixels = np.array(record["pixels"])
    assert pixels.shape == (28, 28) and pixels.max() == 255 and pixels[0].max() == 0
    assert re.fullmatch(r"app;dur=\d+\.\d{3}", response.headers["server-timing"])


def test_every_fixture_image_matches_mnist_predict(client, shipped):
    for path in sorted(p for p in FIXTURE_IMAGES.iterdir() if p.is_file()):
        response = client.post("/api/predict", content=path.read_bytes())
        assert response.status_code == 200, (path.name, response.text)
        assert response.json() == expected_record(path, shipped, "-"), path.name
        assert response.json()["digit"] == int(path.name[0])


def test_multipart_one_file_gives_one_record(client, shipped):
    response = client.post("/api/predict", files={"image": ("seven.png", DIGIT.read_bytes(),
                                                            "image/png")})
    assert response.status_code == 200
    assert response.json() == expected_record(DIGIT, shipped, "seven.png")


def test_multipart_several_files_give_a_list_in_order_with_errors_in_place(client):
    files = [
        ("a", ("3.png", (FIXTURE_IMAGES / "3_black_on_white.png").read_bytes(), "image/png")),
        ("b", ("junk.png", b"not an image at all", "image/png")),
        ("c", ("blank.png", png_bytes(Image.new("L", (50, 50), 255)), "image/png")),
        ("d", ("4.jpg", (FIXTURE_IMAGES / "4_photo_crop.jpg").read_bytes(), "image/jpeg")),
    ]
    response = client.post("/api/predict", files=files)
    assert response.status_code == 200
    records = response.json()
    assert [r["path"] for r in records] == ["3.png", "junk.png", "blank.png", "4.jpg"]
    assert records[0]["digit"] == 3 and records[3]["digit"] == 4
    assert "not an image" in records[1]["error"] and "digit" not in records[1]
    assert "no ink" in records[2]["error"]


def test_multipart_field_without_filename_counts(client):
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"image\"\r\n"
            b"Content-Type: image/png\r\n\r\n" + DIGIT.read_bytes() + b"\r\n--XyZ--\r\n")
    response = client.post("/api/predict", content=body,
                           headers={"content-type": "multipart/form-data; boundary=XyZ"})
    assert response.status_code == 200
    assert response.json()["path"] == "image" and response.json()["digit"] == 7


@pytest.mark.parametrize(("body", "content_type", "status", "words"), [
    (b"", "image/png", 400, "empty body"),
    (b"%PDF-1.4 certainly not a picture", "image/png", 400, "not an image"),
    (DIGIT.read_bytes()[:300], "image/png", 400, "corrupt"),
    (bomb_png(), "image/png", 400, "too large"),
    (png_bytes(Image.new("L", (280, 280), 255)), "image/png", 422, "no ink"),
    (png_bytes(Image.new("RGBA", (280, 280), (0, 0, 0, 0))), "image/png", 422, "no ink"),
    (b"--a\r\nbroken", "multipart/form-data; boundary=a", 400, "multipart"),
    (b"whatever", "multipart/form-data", 400, "boundary"),
    (b"--a--\r\n", "multipart/form-data; boundary=a", 400, "no file"),
])
def test_bad_input_is_a_clean_json_error(client, body, content_type, status, words):
    response = client.post("/api/predict", content=body,
                           headers={"content-type": content_type})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"error"} and words in response.json()["error"]
    assert "Traceback" not in response.text
    assert client.get("/healthz").json() == {"status": "ok"}  # still serving


def test_body_over_the_limit_is_413_declared_or_streamed(shipped):
    small = make_client(shipped, max_upload=2000)
    big = DIGIT.read_bytes() + b"\0" * 3000
    response = small.post("/api/predict", content=big)
    assert response.status_code == 413 and "2,000 bytes" in response.json()["error"]

    def chunks():  # no Content-Length: the limit is checked as the body arrives
        for start in range(0, len(big), 500):
            yield big[start:start + 500]

    response = small.post("/api/predict", content=chunks())
    assert response.status_code == 413
    response = small.post("/api/predict", files={"f": ("a.png", big, "image/png")})
    assert response.status_code == 413
    assert small.post("/api/predict", content=DIGIT.read_bytes()[:1500]).status_code == 400


def test_bad_query_and_routes_are_json_too(client):
    for top in ("0", "11", "many"):
        response = client.post(f"/api/predict?top={top}", content=DIGIT.read_bytes())
        assert response.status_code == 422 and "top" in response.json()["error"]
    assert client.get("/nope").status_code == 404
    assert client.get("/nope").json() == {"error": "not found"}
    response = client.get("/api/predict")
    assert response.status_code == 405 and response.json() == {"error": "method not allowed"}


def test_model_health_and_openapi(client):
    model = client.get("/api/model").json()
    assert model["model"] == "cnn" and model["source"] == "shipped"
    assert model["backend"] in ("litert", "tensorflow-lite")
    assert model["file"] == "model.tflite" and "/" not in model["file"]
    assert 0.98 < model["test_accuracy"] <= 1 and model["num_classes"] == 10
    assert client.get("/healthz").json() == {"status": "ok"}
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    operation = spec["paths"]["/api/predict"]["post"]
    assert set(operation["responses"]) == {"200", "400", "413", "422"}
    assert "multipart/form-data" in operation["requestBody"]["content"]
    assert {"/api/model", "/healthz"} <= set(spec["paths"])


def test_page_and_assets_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert 'id="pad"' in html and 'capture="environment"' in html
    for name, kind in [("app.js", "text/javascript"), ("style.css", "text/css"),
                       ("icon.svg", "image/svg+xml")]:
        response = client.get(f"/{name}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
        assert f'"{name}"' in html
        # nothing is fetched from elsewhere: no absolute URLs in any asset
        assert not re.search(r"(src|href)=\"(https?:)?//", response.text + html)
        text = response.text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "http://" not in text and "https://" not in text


def test_requests_never_touch_the_disk(shipped, monkeypatch):
    """Large uploads (over Starlette's 1 MB spooling threshold) stay in memory."""
    import tempfile

    def refuse(*args, **kwargs):
        raise AssertionError("a request body went to a temporary file")

    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    import starlette.formparsers  # Request.form() spools parts over 1 MB to disk

    monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile", refuse, raising=False)
    client = make_client(shipped)
    noise = np.random.default_rng(0).integers(0, 64, (1600, 1600), dtype=np.uint8)
    big = Image.fromarray(noise + 190)  # light paper with noise: > 1 MB as PNG
    with Image.open(DIGIT) as digit:
        big.paste(digit.convert("L").resize((1000, 1000)).point(lambda v: 255 - v),
                  (250, 250))
    data = png_bytes(big)
    assert len(data) > 1 << 20
    response = client.post("/api/predict", files=[
        ("a", ("big.png", data, "image/png")), ("b", ("7.png", DIGIT.read_bytes(), "x/y"))])
    assert response.status_code == 200
    assert [r.get("digit") for r in response.json()] == [7, 7]


def test_concurrent_requests_get_their_own_answers(shipped):
    """The model runs behind a lock while requests are decoded in parallel threads."""
    from concurrent.futures import ThreadPoolExecutor

    client = make_client(shipped)
    paths = sorted(p for p in FIXTURE_IMAGES.iterdir() if p.is_file()) * 3

    def ask(path):
        return client.post("/api/predict", content=path.read_bytes()).json()["digit"]

    with ThreadPoolExecutor(8) as pool:
        digits = list(pool.map(ask, paths))
    assert digits == [int(p.name[0]) for p in paths]


# ------------------------------------------------------------------------------ the command


def _start(args: list[str], tmp_path: Path, **env_extra):
    env = {**os.environ, "MNIST_HOME": str(tmp_path / "home"), "NO_COLOR": "1", **env_extra}
    return subprocess.Popen([sys.executable, "-m", "mnistcli", "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=tmp_path, text=True)


def _get(url: str, data: bytes | None = None, timeout: float = 5):
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.slow
def test_serve_command_prints_its_url_and_answers(tmp_path):
    """(How soon /healthz answers is measured by benchmarks/serve_load.py.)"""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    started = time.monotonic()
    process = _start(["--port", "0"], tmp_path, TMPDIR=str(scratch))
    try:
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
        while True:
            try:
                status, body = _get(url + "healthz", timeout=1)
                break
            except OSError:
                assert time.monotonic() - started < 30
                time.sleep(0.01)
        assert status == 200 and body == {"status": "ok"}
        status, record = _get(url + "api/predict", DIGIT.read_bytes())
        assert status == 200 and record["digit"] == 7
        status, error = _get(url + "api/predict", b"nonsense")
        assert status == 400 and "not an image" in error["error"]
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    assert out == ""  # the URL was the only line on stdout
    assert "Model:" in err and "cnn" in err and "POST /api/predict" in err  # logs: stderr
    assert "Warning" not in err
    # nothing a request sent was written anywhere: not in TMPDIR, not in the working dir
    assert list(scratch.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["tmp"]


@pytest.mark.slow
def test_serve_workers_share_the_port(tmp_path):
    process = _start(["--port", "0", "--workers", "2", "--quiet"], tmp_path)
    try:
        url = process.stdout.readline().strip()
        deadline = time.monotonic() + 60
        while True:
            try:
                status, model = _get(url + "api/model", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert status == 200 and model["model"] == "cnn"
        for path in sorted(p for p in FIXTURE_IMAGES.iterdir() if p.is_file()):
            status, record = _get(url + "api/predict", path.read_bytes())
            assert status == 200 and record["digit"] == int(path.name[0])
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
        if children.exists():
            assert len(children.read_text().split()) >= 2  # (+ a resource tracker)
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=20)
    assert out == ""


@pytest.mark.slow
def test_serve_warns_off_loopback_and_reports_a_busy_port(tmp_path):
    process = _start(["--port", "0", "--host", "0.0.0.0", "--quiet"], tmp_path)
    try:
        url = process.stdout.readline().strip()
        port = int(url.rsplit(":", 1)[1].strip("/"))
        assert url == f"http://0.0.0.0:{port}/"
        # a second server on the same port fails cleanly
        clash = subprocess.run([sys.executable, "-m", "mnistcli", "serve", "--port", str(port),
                                "--host", "0.0.0.0"], capture_output=True, text=True,
                               timeout=30, env={**os.environ,
                                                "MNIST_HOME": str(tmp_path / "home")})
        assert clash.returncode == 1 and clash.stdout == ""
        assert clash.stderr.startswith("Error: cannot listen on")
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert "Warning: listening on 0.0.0.0" in err and "no authentication" in err


def test_help_imports_no_server_or_tensorflow():
    code = ("import sys\nfrom mnistcli.cli import app\n"
            "from typer.main import get_command\n"
            "get_command(app).get_command(None, 'serve')\n"
            "print(sorted(m for m in ('starlette', 'uvicorn', 'tensorflow', 'multipart',"
            " 'python_multipart', 'ai_edge_litert') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    help_text = subprocess.run([sys.executable, "-m", "mnistcli", "serve", "--help"],
                               capture_output=True, text=True, timeout=60).stdout
    assert "--max-upload" in help_text and "--host" in help_text


def test_sizes_hosts_and_urls():
    import typer

    from mnistcli.cli.serve import is_loopback, parse_size, url_of

    assert parse_size("10MB") == 10 * 1024 * 1024
    assert parse_size("512k") == 512 * 1024 and parse_size("2000") == 2000
    for bad in ("lots", "10 XB", "0"):
        with pytest.raises(typer.BadParameter):
            parse_size(bad)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    assert url_of("::1", 8000) == "http://[::1]:8000/"


# ------------------------------------------------------------------------------ export web


@pytest.fixture(scope="module")
def dense_run(tmp_path_factory):
    from trained_runs import make_run

    return make_run("mlp", tmp_path_factory.mktemp("web_runs"))


@pytest.mark.slow
def test_web_export_holds_the_page_and_the_theta_weights(dense_run, tmp_path):
    import keras

    from mnistcli.export import export_model
    from mnistcli.inference import load_predictor
    from mnistcli.preprocess import load_image, preprocess

    out = tmp_path / "app"
    result = export_model(dense_run / "model.keras", dense_run, "web", out=out)
    assert result["format"] == "web" and result["layers"] == 2
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                   if p.is_file() and not p.name.startswith("."))
    assert names == ["app.js", "icon.svg", "index.html", "mnist.js", "model.js",
                     "style.css", "weights/layer1.csv", "weights/layer2.csv",
                     "weights/manifest.json"]
    html = (out / "index.html").read_text()
    assert html.index('src="model.js"') < html.index('src="mnist.js"') \
        < html.index('src="app.js"')
    assert "//" not in re.sub(r"<!--.*?-->", "", html).replace("://", "")
    spec = json.loads((out / "model.js").read_text().split("window.MNIST_MODEL = ", 1)[1]
                      .rstrip().rstrip(";"))
    model = keras.models.load_model(dense_run / "model.keras", compile=False)
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    thetas = []
    for layer, described in zip(dense, spec["layers"], strict=True):
        theta = np.frombuffer(base64.b64decode(described["theta"]), dtype="<f4").reshape(
            described["rows"], described["columns"])
        kernel, bias = layer.get_weights()
        assert np.array_equal(theta[0], bias) and np.array_equal(theta[1:], kernel)
        csv = np.loadtxt(out / "weights" / f"layer{len(thetas) + 1}.csv", delimiter=",")
        assert np.array_equal(csv.astype(np.float32), theta)
        thetas.append((theta.astype(np.float64), described["activation"]))
    # the forward pass mnist.js does, over model.js, gives the model's probabilities
    predictor = load_predictor(dense_run / "model.tflite")
    for path in sorted(p for p in FIXTURE_IMAGES.iterdir() if p.is_file()):
        pixels = preprocess(load_image(path.read_bytes()))
        a = pixels.reshape(-1).astype(np.float32) / np.float32(255)
        for theta, activation in thetas:
            z = theta[0] + a @ theta[1:]
            a = {"sigmoid": lambda v: 1 / (1 + np.exp(-v)),
                 "softmax": lambda v: np.exp(v - v.max()) / np.exp(v - v.max()).sum()
                 }[activation](z)
        np.testing.assert_allclose(a, predictor.predict_proba(pixels[None])[0], atol=1e-5)


@pytest.mark.slow
def test_web_export_refuses_the_cnn_naming_the_dense_models(tmp_path):
    from mnistcli.export import export_model
    from mnistcli.runs import shipped_model

    run = shipped_model()
    out = tmp_path / "app"
    with pytest.raises(ModelError) as caught:
        export_model(run.keras_path, run.path, "web", out=out)
    message = str(caught.value)
    assert "logreg, mlp, mlp100, mlp2, dnn" in message and "'cnn'" in message
    assert "mnist serve" in message
    assert not out.exists() and list(tmp_path.iterdir()) == []
