#!/usr/bin/env python3
"""Prove pyproject.toml's claims with pip's own resolver.

Only one Python exists on the CI machine, so for every Python version and platform the
package claims, this asks pip what it *would* install there::

    pip install --dry-run --ignore-installed --only-binary=:all: \\
        --python-version X [--platform TAG ...] --report - <the dependencies>

and checks that the resolved TensorFlow, Keras, LiteRT (and the rest of MINIMUMS) are
final releases new enough for what the code calls, that LiteRT is there exactly where the
markers promise it (elsewhere inference falls back to TensorFlow's interpreter), and that
pyproject's lower bounds and ``requires-python`` agree with the tables below. Versions and
platforms not claimed are resolved too and reported, never failed: the report says when
one has become installable (a claim that could be widened).

pip evaluates environment markers against the interpreter running it, whatever
``--python-version``/``--platform`` say, so the project's own markers are evaluated here
for each target and the resulting requirements are passed to pip by name; markers inside
the dependencies' metadata are still evaluated for this machine (Linux, this Python).

Usage: check_resolution.py [--quick] [--platform NAME ...] [--python X.Y ...] [--jobs N]
Exit status 1 when a claimed combination fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent

# The one table of minimum versions: distribution -> (minimum, what the code calls that
# needs it). pyproject's lower bounds must be these (checked below).
MINIMUMS: dict[str, tuple[str, str]] = {
    "keras": ("3.13", 'Model.export(format="litert") writes every run\'s model.tflite '
                      "(training.py); Keras is imported by name"),
    "tensorflow": ("2.16", "Keras 3 as the Keras of TensorFlow; tf.lite.TFLiteConverter "
                           "(export --int8), tf.lite.Interpreter (no-LiteRT fallback)"),
    "ai-edge-litert": ("1.2", "ai_edge_litert.interpreter.Interpreter(model_path=, "
                              "num_threads=) for predict/evaluate"),
    "pillow": ("10.1", "ImageFont.load_default(size) (pictures, weight maps)"),
    "numpy": ("1.26", "the oldest numpy TensorFlow 2.16 takes"),
    "matplotlib": ("3.8", "Figure(layout='constrained'), set_ticks(labels=)"),
    "platformdirs": ("4", "user_cache_path / user_data_path"),
}
# The TensorFlow distributions; either satisfies "tensorflow" in MINIMUMS.
TENSORFLOW = {"tensorflow", "tensorflow-cpu"}

PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")


def _manylinux(machine: str) -> list[str]:
    # pip does not widen a manylinux tag to older glibc versions: list them
    return [f"manylinux_2_{glibc}_{machine}" for glibc in (17, 24, 27, 28, 31, 34, 35)] + [
        f"manylinux2014_{machine}"]


@dataclass(frozen=True)
class Platform:
    name: str
    markers: dict[str, str]  # the PEP 508 environment there (Python version added per run)
    tags: list[str]  # pip --platform values (macOS tags are widened to older releases by pip)
    pythons: str = ""  # a narrower claim than requires-python there ("" = the same)
    note: str = ""
    quick: bool = False  # in --quick (CI): where the dependencies differ from Linux x86-64


PLATFORMS = [
    Platform("linux-x86_64",
             {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
              "platform_machine": "x86_64"}, _manylinux("x86_64")),
    Platform("linux-aarch64",
             {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
              "platform_machine": "aarch64"}, _manylinux("aarch64")),
    Platform("macos-arm64",
             {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix",
              "platform_machine": "arm64"}, ["macosx_14_0_arm64"]),
    Platform("macos-x86_64",
             {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix",
              "platform_machine": "x86_64"}, ["macosx_14_0_x86_64"], pythons="<3.13",
             note="TensorFlow 2.16 is the last build for Intel Macs (Python <= 3.12)",
             quick=True),
    Platform("windows-amd64",
             {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt",
              "platform_machine": "AMD64"}, ["win_amd64"], quick=True),
]


@dataclass
class Outcome:
    platform: Platform
    python: str
    claimed: bool
    seconds: float = 0.0
    resolved: dict[str, str] = field(default_factory=dict)  # canonical name -> version
    error: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error and not self.problems


def load_project() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]


def environment(platform: Platform, python: str) -> dict[str, str]:
    return {**platform.markers, "python_version": python, "python_full_version": f"{python}.0",
            "implementation_name": "cpython", "platform_python_implementation": "CPython",
            "platform_release": "", "platform_version": "", "extra": ""}


def requirements_for(dependencies: list[str], env: dict[str, str]) -> list[Requirement]:
    chosen = []
    for text in dependencies:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate(env):
            chosen.append(requirement)
    return chosen


def claimed(project: dict, platform: Platform, python: str) -> bool:
    version = Version(python)
    return (version in SpecifierSet(project["requires-python"])
            and version in SpecifierSet(platform.pythons))


def resolve(project: dict, platform: Platform, python: str) -> Outcome:
    outcome = Outcome(platform, python, claimed(project, platform, python))
    env = environment(platform, python)
    wanted = requirements_for(project["dependencies"], env)
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
               "--only-binary=:all:", "--python-version", python, "--quiet", "--report", "-"]
    for tag in platform.tags:
        command += ["--platform", tag]
    command += [f"{r.name}{r.specifier}" for r in wanted]
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    outcome.seconds = time.monotonic() - start
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
        outcome.error = errors[0] if errors else done.stderr.strip()[-300:]
        return outcome
    report = json.loads(done.stdout)
    outcome.resolved = {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
                        for item in report["install"]}
    outcome.problems = check(outcome, wanted)
    return outcome


def check(outcome: Outcome, wanted: list[Requirement]) -> list[str]:
    """What is wrong with a resolution: a dependency missing, too old or a pre-release."""
    problems = []
    resolved = outcome.resolved
    tensorflow = [name for name in TENSORFLOW if name in resolved]
    if not tensorflow:
        problems.append("no TensorFlow resolved")
    if "keras" not in resolved:
        problems.append("no Keras resolved")
    litert_wanted = any(canonicalize_name(r.name) == "ai-edge-litert" for r in wanted)
    if litert_wanted != ("ai-edge-litert" in resolved):
        problems.append(f"ai-edge-litert {'missing' if litert_wanted else 'unexpected'}")
    for name, (minimum, why) in MINIMUMS.items():
        names = tensorflow if name == "tensorflow" else [name]
        for found in names:
            if found not in resolved:
                continue
            version = Version(resolved[found])
            if version < Version(minimum):
                problems.append(f"{found} {version} < {minimum} ({why})")
            if version.is_prerelease:
                problems.append(f"{found} {version} is a pre-release")
    return problems


def check_pyproject(project: dict) -> list[str]:
    """pyproject's lower bounds are MINIMUMS; requires-python claims a version only where
    some platform resolves it (checked by the runs)."""
    problems = []
    bounds: dict[str, set[str]] = {}
    for text in project["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        name = "tensorflow" if name in TENSORFLOW else name
        for spec in requirement.specifier:
            if spec.operator == ">=":
                bounds.setdefault(name, set()).add(spec.version)
    for name, (minimum, _) in MINIMUMS.items():
        declared = bounds.get(name)
        if not declared:
            problems.append(f"pyproject.toml: {name} has no lower bound (need >={minimum})")
        elif {Version(v) for v in declared} != {Version(minimum)}:
            problems.append(f"pyproject.toml: {name} >={', '.join(sorted(declared))}, "
                            f"but the code needs >={minimum}")
    if "license" in project and not isinstance(project["license"], str):
        problems.append("pyproject.toml: license is a table; use an SPDX string")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", action="append", choices=[p.name for p in PLATFORMS],
                        help="only this platform (repeatable; default: all)")
    parser.add_argument("--python", action="append", choices=PYTHONS,
                        help="only this Python version (repeatable; default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="every Python on linux-x86_64; the newest claimed one on the "
                             "platforms without LiteRT (what CI runs: a resolution takes "
                             "20-40 s, mostly index traffic)")
    parser.add_argument("--jobs", type=int, default=3, help="resolutions run at once")
    args = parser.parse_args(argv)
    project = load_project()
    platforms = [p for p in PLATFORMS if not args.platform or p.name in args.platform]
    pythons = args.python or list(PYTHONS)

    problems = check_pyproject(project)
    started = time.monotonic()
    jobs = []
    for platform in platforms:
        mine = [v for v in pythons if claimed(project, platform, v)]
        if args.quick and platform is not PLATFORMS[0]:
            jobs += [(platform, mine[-1])] if mine and platform.quick else []
        else:
            jobs += [(platform, python) for python in pythons]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = list(pool.map(lambda job: resolve(project, *job), jobs))

    print(f"requires-python {project['requires-python']}; pip would install "
          f"(--dry-run --only-binary=:all:):")
    header = (f"{'platform':14} {'python':6} {'claim':5} {'result':6} {'tensorflow':18} "
              f"{'keras':8} {'litert':8} {'numpy':8} {'pillow':8}")
    print(header)
    print("-" * len(header))
    for o in outcomes:
        tf = next((f"{n.replace('tensorflow', 'tf')} {o.resolved[n]}" for n in sorted(TENSORFLOW)
                   if n in o.resolved), "-")
        result = "ok" if o.ok else ("FAIL" if o.claimed else "no")
        row = (f"{o.platform.name:14} {o.python:6} {'yes' if o.claimed else 'no':5} "
               f"{result:6} {tf:18} {o.resolved.get('keras', '-'):8} "
               f"{o.resolved.get('ai-edge-litert', '-'):8} {o.resolved.get('numpy', '-'):8} "
               f"{o.resolved.get('pillow', '-'):8}")
        print(row)
        for reason in ([o.error] if o.error else []) + o.problems:
            print(f"    {reason}")
        if o.claimed and not o.ok:
            problems.append(f"{o.platform.name} Python {o.python}: claimed, but "
                            f"{o.error or '; '.join(o.problems)}")
        if not o.claimed and o.ok:
            print("    (installable and new enough now: the claim could include it)")
    for platform in platforms:
        if platform.note:
            print(f"note: {platform.name}: {platform.note}")
    print(f"{len(outcomes)} resolutions in {time.monotonic() - started:.0f} s")
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
