"""The HTTP side of the toolkit: a page to draw digits on, and a JSON API, as one ASGI app.

    app = create_app(run, predictor)          # Starlette; `mnist serve` runs it on uvicorn

Routes::

    GET  /                 the drawing page (mnistcli/web: every asset ships in the package)
    POST /api/predict      one image as the raw body, or multipart files (several -> a list)
    GET  /api/model        which model answers
    GET  /healthz          {"status": "ok"}
    GET  /openapi.json     this API, described

Predictions go through :func:`mnistcli.predicting.predict_sources`, as for `mnist
predict`: the same preprocessing, the same model, the same record (plus the 28x28 pixels
the model saw). Bad input is a JSON ``{"error": ...}`` with a 4xx status, never a 500;
request bodies are held in memory only (never written to disk) and capped at
``max_upload`` bytes. Every response says how long the app took in a ``Server-Timing``
header (``app;dur=<ms>``), which ``benchmarks/serve_load.py`` reads.

Starlette, python-multipart and numpy: no typer, rich or tensorflow.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mnistcli.errors import ImageError, MnistError

DEFAULT_MAX_UPLOAD = 10 * 1024 * 1024  # bytes
MAX_FILES = 64  # images in one multipart request
MAX_TOP = 10
# A single image up to this size is predicted on the event loop, larger ones in a thread.
INLINE_BYTES = 256 * 1024
RAW_BODY_NAME = "-"  # what the record's "path" says for an image sent as the raw body

logger = logging.getLogger("mnistcli.serve")

# The page's assets: name -> content type. Read once, served from memory.
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                               "style-src 'self'; script-src 'self'; connect-src 'self'; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class RequestError(Exception):
    """A request the API refuses: becomes ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ModelInfo:
    """What /api/model says: the run's name and model, its test accuracy, the backend."""

    name: str
    model: str | None
    source: str
    file: str
    backend: str
    test_accuracy: float | None
    num_classes: int
    dataset: str = "mnist"
    class_names: tuple[str, ...] | None = None  # None: the ten digits
    temperature: float | None = None  # `mnist calibrate`'s, applied to every answer

    def as_dict(self) -> dict[str, Any]:
        why = {"run": "a run", "file": "a model file", "shipped": "the model shipped with "
               "mnistcli"}.get(self.source, self.source)
        accuracy = (f", test accuracy {self.test_accuracy:.2%}"
                    if self.test_accuracy is not None else "")
        return {
            "name": self.name, "model": self.model, "source": self.source, "file": self.file,
            "backend": self.backend, "test_accuracy": self.test_accuracy,
            "num_classes": self.num_classes, "dataset": self.dataset,
            "class_names": list(self.class_names) if self.class_names else None,
            "temperature": self.temperature,
            "description": f"{self.model or self.file} ({why}{accuracy}) on {self.backend}",
        }


def model_info(run, predictor) -> ModelInfo:
    """ModelInfo of a resolved run (mnistcli.runs.RunInfo) and its loaded predictor."""
    digits = getattr(run, "digits", True)
    return ModelInfo(
        name=run.name, model=run.model, source=run.source,
        file=predictor.path.name, backend=predictor.backend,
        test_accuracy=run.test_accuracy,
        num_classes=int(getattr(predictor, "num_classes", 10)),
        dataset=getattr(run, "dataset", "mnist"),
        class_names=None if digits else tuple(run.class_names),
        temperature=getattr(predictor, "temperature", None),
    )


class _SerialPredictor:
    """The predictor behind a lock: a LiteRT interpreter serves one call at a time, while
    decoding and preprocessing (the larger share of a request) run in parallel."""

    def __init__(self, predictor):
        self._predictor = predictor
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        return getattr(self._predictor, name)

    def predict_proba(self, images, *args, **kwargs):
        with self._lock:
            return self._predictor.predict_proba(images, *args, **kwargs)


# ------------------------------------------------------------------------ request bodies


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, in memory; RequestError(413) as soon as it passes ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise RequestError(413, _too_large(limit))
        except ValueError:
            raise RequestError(400, "invalid Content-Length header") from None
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(413, _too_large(limit))
            chunks.append(chunk)
    except ClientDisconnect:
        raise RequestError(400, "the client went away before sending the whole body") \
            from None
    return b"".join(chunks)


def _too_large(limit: int) -> str:
    return (f"request body too large: the limit is {limit:,} bytes "
            "(mnist serve --max-upload)")


def _header_params(value: str, header: str = "content-type") -> dict[str, str]:
    """'form-data; name="a"; filename="b.png"' -> {"name": "a", "filename": "b.png"}."""
    from email.message import Message

    message = Message()
    message[header] = value
    params = message.get_params(failobj=[], header=header)[1:]
    return {key.lower(): str(val) for key, val in params}


def parse_multipart(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    """The file parts of a multipart/form-data body as (filename, bytes), in order, all
    in memory. A part without a filename counts when it is the only kind there is (a
    client that sends ``-F image=<file.png``)."""
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser

    params = _header_params(content_type)
    boundary = params.get("boundary")
    if not boundary:
        raise RequestError(400, "multipart/form-data without a boundary")
    parts: list[dict[str, Any]] = []
    state: dict[str, Any] = {}

    def on_part_begin() -> None:
        state.update(headers={}, data=[], field=b"", value=b"")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].decode("latin-1").lower()] = \
            state["value"].decode("utf-8", "replace")
        state["field"] = state["value"] = b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        state["data"].append(data[start:end])

    def on_part_end() -> None:
        if len(parts) >= MAX_FILES:
            raise RequestError(413, f"too many parts: at most {MAX_FILES} images a request")
        disposition = _header_params(state["headers"].get("content-disposition", ""),
                                     "content-disposition")
        parts.append({"name": disposition.get("name", ""),
                      "filename": disposition.get("filename"),
                      "data": b"".join(state["data"])})

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_part_data": on_part_data, "on_part_end": on_part_end,
    })
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise RequestError(400, f"malformed multipart body ({exc})") from None
    files = [part for part in parts if part["filename"] is not None]
    chosen = files or parts
    if not chosen:
        raise RequestError(400, "the multipart body holds no file: send the image as a "
                                "form field with a filename (curl -F image=@digit.png)")
    return [(part["filename"] or part["name"] or f"part{index + 1}", part["data"])
            for index, part in enumerate(chosen)]


# ------------------------------------------------------------------------------ the app


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _status_of(error: MnistError) -> int:
    """422 for a readable image that holds no digit, 400 for one that cannot be read."""
    if isinstance(error, ImageError) and "no ink" in str(error):
        return 422
    return 400


def _top(request: Request, default: int = 1) -> int:
    raw = request.query_params.get("top")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_TOP:
        raise RequestError(422, f"top must be a whole number from 1 to {MAX_TOP}, not {raw!r}")
    return value


def create_app(run, predictor, max_upload: int = DEFAULT_MAX_UPLOAD) -> Starlette:
    """The ASGI app serving ``predictor`` (loaded from ``run``, a RunInfo)."""
    from mnistcli.predicting import NamedImage, predict_sources

    described = model_info(run, predictor)
    info = described.as_dict()
    serial = _SerialPredictor(predictor)
    # as `mnist predict` does: the run's dataset's preprocessing, its classes' names
    preprocessing = getattr(run, "preprocessing", None)
    class_names = described.class_names
    web = resources.files("mnistcli") / "web"
    assets = {name: (web / name).read_bytes() for name in ASSETS}

    def predict_images(images: list[tuple[str, bytes]], top: int) -> list[dict[str, Any]]:
        sources = [NamedImage(name, data) for name, data in images]
        records = []
        for prediction in predict_sources(sources, serial, preprocessing=preprocessing):
            if prediction.ok:
                record = prediction.record(top=top, class_names=class_names)
                record["pixels"] = prediction.pixels.tolist()
            else:
                record = {"path": prediction.source, "error": str(prediction.error),
                          "status": _status_of(prediction.error)}
            records.append(record)
        return records

    async def predict(request: Request) -> Response:
        top = _top(request)
        content_type = request.headers.get("content-type", "")
        body = await read_body(request, max_upload)
        if content_type.lower().startswith("multipart/"):
            images = parse_multipart(body, content_type)
            several = len(images) > 1
        else:
            if not body:
                raise RequestError(400, "empty body: send the image's bytes (curl "
                                        "--data-binary @digit.png) or a multipart file")
            images = [(RAW_BODY_NAME, body)]
            several = False
        if len(images) == 1 and len(body) <= INLINE_BYTES:
            # one small image (a drawing, an MNIST-style file): a few milliseconds of
            # work, done right here. Requests then do not interleave, so each is answered
            # as fast as the CPU allows and a thread hop is saved.
            records = predict_images(images, top)
        else:
            # large bodies (photos) and batches: in a worker thread, so the event loop
            # keeps answering the others (and /healthz) meanwhile
            records = await run_in_threadpool(predict_images, images, top)
        if several:
            for record in records:
                record.pop("status", None)
            return JSONResponse(records)
        record = records[0]
        if "error" in record:
            return _error(record.pop("status"), record["error"])
        return JSONResponse(record)

    async def model(request: Request) -> Response:
        return JSONResponse(info)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document(max_upload))

    def asset(name: str):
        async def endpoint(request: Request) -> Response:
            return Response(assets[name], media_type=ASSETS[name], headers=PAGE_HEADERS)
        return endpoint

    async def on_request_error(request: Request, exc: RequestError) -> Response:
        return _error(exc.status, exc.message)

    async def on_http_error(request: Request, exc: HTTPException) -> Response:
        messages = {404: "not found", 405: "method not allowed"}
        return _error(exc.status_code, messages.get(exc.status_code, str(exc.detail)))

    async def on_bug(request: Request, exc: Exception) -> Response:
        logger.error("internal error on %s %s", request.method, request.url.path,
                     exc_info=exc)
        return _error(500, "internal error (the server's log says more)")

    routes = [
        Route("/", asset("index.html")),
        *(Route(f"/{name}", asset(name)) for name in ASSETS if name != "index.html"),
        Route("/api/predict", predict, methods=["POST"]),
        Route("/api/model", model),
        Route("/healthz", healthz),
        Route("/openapi.json", openapi),
    ]
    app = Starlette(routes=routes, exception_handlers={
        RequestError: on_request_error, HTTPException: on_http_error, Exception: on_bug,
    })
    app.state.model_info = info
    return TimingMiddleware(app)


# `mnist serve --workers N`: each worker process builds its app from these
ENV_RUN = "MNISTCLI_SERVE_RUN"  # the resolved run directory or model file; "" shipped
ENV_MAX_UPLOAD = "MNISTCLI_SERVE_MAX_UPLOAD"


def app_from_environment():
    """The app of one worker process (uvicorn's factory, see ENV_RUN): the same model
    as the parent resolved, loaded in this process."""
    from mnistcli.runs import resolve_run, shipped_model

    where = os.environ.get(ENV_RUN, "")
    run = resolve_run(where) if where else shipped_model()
    limit = int(os.environ.get(ENV_MAX_UPLOAD, DEFAULT_MAX_UPLOAD))
    return create_app(run, load_model(run), max_upload=limit)


def load_model(run):
    """The predictor `mnist predict` uses for ``run``: its .tflite on LiteRT, with the
    temperature `mnist calibrate` stored, if any."""
    from mnistcli.calibration import load_run_predictor

    return load_run_predictor(run)


class TimingMiddleware:
    """Adds ``Server-Timing: app;dur=<ms>`` to every HTTP response: the time from the
    request's arrival in the app to its response headers."""

    def __init__(self, app):
        self.app = app
        self.state = getattr(app, "state", None)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed_send(message):
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - start) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={took:.3f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed_send)


# ------------------------------------------------------------------------------ OpenAPI


def openapi_document(max_upload: int = DEFAULT_MAX_UPLOAD) -> dict[str, Any]:
    """The API as OpenAPI 3.1."""
    error = {"$ref": "#/components/schemas/Error"}
    prediction = {"$ref": "#/components/schemas/Prediction"}

    def answer(description: str, schema: dict | None = None) -> dict:
        return {"description": description,
                "content": {"application/json": {"schema": schema or error}}}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mnist serve",
            "version": "1",
            "description": "Read handwritten digits. The same preprocessing and model as "
                           "`mnist predict`; records are those of `mnist predict --json` "
                           "plus the 28x28 image the model saw.",
        },
        "paths": {
            "/api/predict": {"post": {
                "summary": "Predict the digit in one image, or in each of several",
                "parameters": [{
                    "name": "top", "in": "query", "required": False,
                    "description": "How many of the most likely digits to list in \"top\".",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_TOP,
                               "default": 1},
                }],
                "requestBody": {"required": True, "content": {
                    "image/*": {"schema": {"type": "string", "format": "binary"}},
                    "application/octet-stream": {"schema": {"type": "string",
                                                            "format": "binary"}},
                    "multipart/form-data": {"schema": {
                        "type": "object",
                        "description": "One or more files (any field name). Several files "
                                       "give a list of results, in order.",
                        "additionalProperties": {"type": "string", "format": "binary"},
                    }},
                }, "description": f"At most {max_upload:,} bytes. PNG, JPEG, BMP, GIF, "
                                  "TIFF or WebP; any size, either polarity."},
                "responses": {
                    "200": {"description": "The answer: one record, or a list (several "
                                           "files) whose failed items have path and error",
                            "content": {"application/json": {"schema": {"oneOf": [
                                prediction,
                                {"type": "array", "items": {"oneOf": [prediction, {
                                    "type": "object", "required": ["path", "error"],
                                    "properties": {"path": {"type": "string"},
                                                   "error": {"type": "string"}}}]}},
                            ]}}}},
                    "400": answer("Not an image, a truncated or corrupt file, an empty "
                                  "body, a decompression bomb, a malformed multipart body"),
                    "413": answer("The body is larger than the server's --max-upload"),
                    "422": answer("The image holds no ink (a blank canvas), or a bad "
                                  "query parameter"),
                },
            }},
            "/api/model": {"get": {
                "summary": "Which model answers",
                "responses": {"200": answer("The model", {"$ref": "#/components/schemas/"
                                                                   "Model"})},
            }},
            "/healthz": {"get": {
                "summary": "Liveness",
                "responses": {"200": answer("Serving", {
                    "type": "object", "properties": {"status": {"const": "ok"}}})},
            }},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error"],
                      "properties": {"error": {"type": "string"}}},
            "Prediction": {
                "type": "object",
                "required": ["path", "digit", "confidence", "top", "probabilities", "pixels"],
                "properties": {
                    "path": {"type": "string", "description": "the file name of a "
                             "multipart file, \"-\" for a raw body"},
                    "digit": {"type": "integer"},
                    "confidence": {"type": "number"},
                    "top": {"type": "array", "items": {
                        "type": "object",
                        "properties": {"digit": {"type": "integer"},
                                       "probability": {"type": "number"}}}},
                    "probabilities": {"type": "array", "items": {"type": "number"}},
                    "pixels": {"type": "array", "description": "28 rows of 28 values "
                               "0-255, white ink on black: what the model saw",
                               "items": {"type": "array", "items": {"type": "integer"}}},
                },
            },
            "Model": {"type": "object", "properties": {
                "name": {"type": "string"}, "model": {"type": ["string", "null"]},
                "source": {"enum": ["run", "file", "shipped"]},
                "file": {"type": "string"}, "backend": {"type": "string"},
                "test_accuracy": {"type": ["number", "null"]},
                "num_classes": {"type": "integer"}, "description": {"type": "string"},
                "dataset": {"type": "string"},
                "class_names": {"type": ["array", "null"], "items": {"type": "string"},
                                "description": "null for the ten digits"},
                "temperature": {"type": ["number", "null"],
                                "description": "mnist calibrate's, if the run has one"},
            }},
        }},
    }
