"""`make package` refuses an edge zip over Lambda@Edge's viewer-trigger limit (1,048,576 bytes
zipped, lambda-edge-rules.md "Limits"), and `make deploy` checks it again before uploading.

The zips here are fakes of the right size (the check reads the size only): building a real
oversized package would take minutes and prove nothing more.

Run: python3 -m pytest deploy/      (offline)
"""
import os
import pathlib
import subprocess

import pytest

DEPLOY = pathlib.Path(__file__).resolve().parent
ROOT = DEPLOY.parent
LIMIT = 1_048_576


def make(*args):
    # A clean make environment: under `make test` the parent's flags (-n, -j, -k...) would leak in.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    return subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def fake_zip(tmp_path, size):
    path = tmp_path / f"edge-{size}.zip"
    with open(path, "wb") as f:
        f.truncate(size)
    return path


@pytest.mark.parametrize("size", [LIMIT + 1, 5 * LIMIT])
def test_an_oversized_edge_zip_fails_the_check(tmp_path, size):
    zip_path = fake_zip(tmp_path, size)
    run = make("-f", "deploy/deploy.mk", "check-edge-zip", f"EDGE_ZIP={zip_path}")
    assert run.returncode != 0, run.stdout
    assert f"{size} bytes, over" in run.stdout and str(LIMIT) in run.stdout, run.stdout + run.stderr


@pytest.mark.parametrize("size", [1, LIMIT])
def test_an_edge_zip_within_the_limit_passes(tmp_path, size):
    zip_path = fake_zip(tmp_path, size)
    run = make("-f", "deploy/deploy.mk", "check-edge-zip", f"EDGE_ZIP={zip_path}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{size} bytes" in run.stdout


def test_a_missing_edge_zip_fails_the_check(tmp_path):
    run = make("-f", "deploy/deploy.mk", "check-edge-zip", f"EDGE_ZIP={tmp_path / 'none.zip'}")
    assert run.returncode != 0 and "missing" in run.stdout


def test_package_runs_the_check_on_the_zip_it_just_wrote(tmp_path):
    """`make -n` prints the recipe without running it (a recursive make runs, itself dry)."""
    zip_path = fake_zip(tmp_path, LIMIT + 1)
    run = make("-n", "package-edge", f"EDGE_ZIP={zip_path}")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    written = next(i for i, line in enumerate(lines) if "zip_package.py" in line and str(zip_path) in line)
    checked = next(i for i, line in enumerate(lines) if "check-edge-zip" in line and f"EDGE_ZIP={zip_path}" in line)
    assert written < checked, run.stdout


def test_deploy_checks_the_edge_zip_before_uploading():
    run = make("-n", "-p", "-f", "deploy/deploy.mk", "check-edge-zip", "EDGE_ZIP=/nonexistent")
    rule = next(line for line in run.stdout.splitlines() if line.startswith("deploy:"))
    assert "check-edge-zip" in rule.split(":", 1)[1].split(), rule
