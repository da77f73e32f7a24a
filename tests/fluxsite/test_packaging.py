"""`pip install .` ships the whole app: the wheel built from the project holds every module of the five
packages (views, services, dispatcher, simulator, migrations included) and every template the apps keep."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["wavespeed_api", "team", "variations", "sharing", "fluxsite"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project's files (pip builds in the tree it is given, and the checkout is shared)."""
    copy = tmp_path_factory.mktemp("project") / "fluxsite"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
        ".git", ".venv", "data", "build", "*.egg-info", "__pycache__", "node_modules", ".pytest_cache",
    ))
    return copy


@pytest.fixture(scope="module")
def wheel_names(project, tmp_path_factory):
    """The file names in a wheel built offline from the copy."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--wheel-dir", str(out), str(project)],
        check=True, capture_output=True, timeout=120,
    )
    (wheel,) = out.glob("fluxsite-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def shipped_files(project):
    """Every module and every app template of the five packages, as the wheel should name them."""
    for package in PACKAGES:
        for path in (project / package).rglob("*"):
            if path.suffix == ".py" or (path.suffix == ".html" and "templates" in path.parts):
                yield path.relative_to(project).as_posix()


def test_the_wheel_holds_the_sub_packages_a_plain_find_would_drop(wheel_names):
    for name in ("team/views/__init__.py", "variations/dispatcher/loop.py", "variations/migrations/0001_initial.py",
                 "wavespeed_api/simulator/__init__.py", "sharing/views/__init__.py"):
        assert name in wheel_names


def test_the_wheel_holds_every_module_and_template_of_the_apps(project, wheel_names):
    expected = set(shipped_files(project))
    assert {"team/templates/team/people.html", "sharing/templates/sharing/board.html"} <= expected
    assert sorted(expected - wheel_names) == []
