"""``mnist serve``: the drawing page and the HTTP API (mnistcli.serve) on uvicorn.

Starlette, uvicorn and the model's runtime are imported only once the command runs, so
`mnist --help` stays fast.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import socket

from mnistcli.cli.common import QuietOption, err_console

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
              "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30,
              "gib": 1 << 30}


def parse_size(text: str) -> int:
    """'10MB', '512k', '2000000' -> bytes (K, M, G are powers of 1024)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in SIZE_UNITS:
        raise typer.BadParameter(f"{text!r} is not a size (e.g. 10MB, 512KB, 2000000)")
    size = int(float(match.group(1)) * SIZE_UNITS[unit])
    if size < 1:
        raise typer.BadParameter("the limit must be at least one byte")
    return size


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_of(host: str, port: int) -> str:
    host = host.strip("[]")
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: a free one), so the URL printed is the real one."""
    import socket

    host = host.strip("[]")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise typer.BadParameter(f"cannot resolve {host!r} ({exc.strerror})",
                                 param_hint="--host") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        from mnistcli.errors import MnistError

        raise MnistError(f"cannot listen on {url_of(host, port)}: "
                         f"{exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _log_config(access_log: bool) -> dict:
    """uvicorn's logging, all of it on stderr (its default sends access lines to stdout,
    which carries data only)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(message)s",
                                 "datefmt": "%H:%M:%S"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain",
                                "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["stderr"] if access_log else [],
                               "level": "INFO" if access_log else "WARNING",
                               "propagate": False},
            "mnistcli.serve": {"handlers": ["stderr"], "level": "INFO",
                               "propagate": False},
        },
    }


def command(
    run: Annotated[str | None, typer.Argument(
        metavar="[RUN]",
        help="A run directory or name, or a .tflite/.keras file. Default: the latest run in "
        "MNIST_HOME, else the model shipped with mnistcli.", show_default=False)] = None,
    host: Annotated[str, typer.Option(
        "--host", metavar="HOST",
        help="Address to listen on. Anything but a loopback address lets other machines "
        "in (there is no authentication).")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(
        "--port", "-p", metavar="PORT", min=0, max=65535,
        help="Port to listen on; 0 picks a free one.")] = DEFAULT_PORT,
    max_upload: Annotated[str, typer.Option(
        "--max-upload", metavar="SIZE",
        help="Largest request body accepted (larger ones get 413), e.g. 10MB, 512KB.")
    ] = "10MB",
    workers: Annotated[int, typer.Option(
        "--workers", "-w", metavar="N", min=1, max=64,
        help="Worker processes, each with its own copy of the model (one uses one core).")
    ] = 1,
    access_log: Annotated[bool, typer.Option(
        "--access-log/--no-access-log",
        help="Log every request on stderr.")] = True,
    quiet: QuietOption = False,
) -> None:
    """Serve a page to draw digits on, and an HTTP API, until Ctrl-C.

    The page (/) reads a digit as you draw it (mouse, touch or pen), or from an uploaded
    image, and shows the ten probabilities and the 28x28 image the model saw. The API:
    POST /api/predict (an image as the body, or multipart files), GET /api/model,
    GET /healthz; described at /openapi.json. The model is the one `mnist predict` would
    use, loaded once.

    stdout: the URL, one line, once the server listens. Logs go to stderr.

    Example: mnist serve RUN --port 8080, then open http://127.0.0.1:8080/ or
    curl --data-binary @digit.png http://127.0.0.1:8080/api/predict
    """
    limit = parse_size(max_upload)
    from mnistcli.calibration import load_run_predictor
    from mnistcli.runs import resolve_run

    info = resolve_run(run)
    predictor = load_run_predictor(info)  # with its `mnist calibrate` temperature

    import uvicorn

    from mnistcli.serve import create_app

    app = create_app(info, predictor, max_upload=limit)
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    url = url_of(host, bound_port)
    if not quiet:
        description = app.state.model_info["description"]
        err_console.print(f"Model: {predictor.path} ({description})", markup=False,
                          soft_wrap=True)
        err_console.print(f"Serving on {url} (Ctrl-C stops)", markup=False, soft_wrap=True)
    if not is_loopback(host):
        err_console.print(f"Warning: listening on {host}, not a loopback address: other "
                          "machines can reach this server, and it has no authentication",
                          markup=False, soft_wrap=True)
    typer.echo(url)
    sys.stdout.flush()

    settings = dict(
        log_config=_log_config(access_log and not quiet), access_log=access_log,
        log_level="warning" if quiet else "info", lifespan="off", server_header=False,
        timeout_graceful_shutdown=3, h11_max_incomplete_event_size=64 * 1024,
    )
    try:
        if workers == 1:
            uvicorn.Server(uvicorn.Config(app, **settings)).run(sockets=[sock])
            return
        # several processes share the socket; each loads the model the parent resolved
        import os

        from uvicorn.supervisors import Multiprocess

        from mnistcli.serve import ENV_MAX_UPLOAD, ENV_RUN

        os.environ[ENV_RUN] = "" if info.source == "shipped" else str(info.path)
        os.environ[ENV_MAX_UPLOAD] = str(limit)
        config = uvicorn.Config("mnistcli.serve:app_from_environment", factory=True,
                                workers=workers, **settings)
        import inspect

        if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn < 0.40
            supervisor = Multiprocess(config, target=uvicorn.Server(config).run,
                                      sockets=[sock])
        else:
            supervisor = Multiprocess(config, sockets=[sock])
        supervisor.run()
    finally:
        sock.close()
