"""`make deploy-tools` installs into its own virtual environment, never into the Python that
runs it: Debian's `/usr/bin/python3` is "externally managed" (PEP 668, the EXTERNALLY-MANAGED
marker) and pip refuses to install into it. Where that Python can't create a virtual
environment (Debian/Ubuntu without `python3-venv`), it stops with the line that fixes it.

Each run installs one small pin (`DEPLOY_REQUIREMENTS` pointing at a one-line file), not the
whole set; it needs the package index, like `make deploy-tools` itself.

Run: python3 -m pytest deploy/
"""
import glob
import os
import pathlib
import subprocess
import sys

import pytest

DEPLOY = pathlib.Path(__file__).resolve().parent
ROOT = DEPLOY.parent
PIN = ("iniconfig", "2.0.0")
DEBIAN_PYTHON = pathlib.Path("/usr/bin/python3")


def externally_managed(python):
    """The EXTERNALLY-MANAGED marker of that Python's standard library, if it has one."""
    run = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
                         capture_output=True, text=True)
    marker = pathlib.Path(run.stdout.strip()) / "EXTERNALLY-MANAGED"
    return marker if run.returncode == 0 and marker.exists() else None


def has_venv(python, env=None):
    return subprocess.run([str(python), "-c", "import venv, ensurepip"], env=env, capture_output=True).returncode == 0


def deploy_tools(tmp_path, python, env_extra=None):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"{PIN[0]}=={PIN[1]}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    env.update(env_extra or {})
    return subprocess.run(
        ["make", "--no-print-directory", "-f", "deploy/deploy.mk", "deploy-tools", f"DEPLOY_PYTHON={python}",
         f"DEPLOY_VENV={tmp_path / 'venv'}", f"DEPLOY_REQUIREMENTS={requirements}", "DEPLOY_TOOLS="],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def installed_in(venv, name):
    run = subprocess.run([str(venv / "bin" / "python"), "-c",
                          f"import importlib.metadata as m; d = m.distribution({name!r}); print(d.version);"
                          f"print(d.locate_file(''))"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    version, location = run.stdout.split()
    return version, pathlib.Path(location)


def bases():
    """Debian's own python3 (when this is Debian) and the Python running these tests (its base)."""
    out = []
    if DEBIAN_PYTHON.exists() and externally_managed(DEBIAN_PYTHON):
        out.append(pytest.param(DEBIAN_PYTHON, id="debian-python3"))
    else:
        out.append(pytest.param(DEBIAN_PYTHON, id="debian-python3",
                                marks=pytest.mark.skip(reason="no externally managed /usr/bin/python3 here")))
    out.append(pytest.param(pathlib.Path(getattr(sys, "_base_executable", sys.executable)), id="this-python"))
    return out


def test_debian_marks_its_python_as_externally_managed():
    """The premise: where the system's Python carries the PEP 668 marker, the test above runs
    with it (and is not skipped)."""
    markers = glob.glob("/usr/lib/python3*/EXTERNALLY-MANAGED")
    if not markers:
        pytest.skip("no externally managed system Python here")
    assert externally_managed(DEBIAN_PYTHON) in [pathlib.Path(m) for m in markers]


@pytest.mark.parametrize("python", bases())
def test_deploy_tools_installs_a_pin_into_its_own_venv(tmp_path, python):
    if not has_venv(python):
        # Debian/Ubuntu without python3-venv: the clear message is the expected answer.
        run = deploy_tools(tmp_path, python)
        assert run.returncode != 0 and "sudo apt install python3-venv" in run.stdout + run.stderr
        return
    run = deploy_tools(tmp_path, python)
    assert run.returncode == 0, run.stdout + run.stderr
    venv = tmp_path / "venv"
    version, location = installed_in(venv, PIN[0])
    assert version == PIN[1]
    assert venv.resolve() in location.resolve().parents, f"{PIN[0]} installed outside the venv: {location}"
    assert "externally-managed-environment" not in run.stdout + run.stderr
    # Again: nothing to install.
    again = deploy_tools(tmp_path, python)
    assert again.returncode == 0 and "already installed" in again.stdout, again.stdout + again.stderr


def test_without_venv_it_stops_with_the_apt_line(tmp_path):
    """A Python whose `ensurepip` is missing, as Debian's is without python3-venv: a stand-in
    module that fails to import, first on its path."""
    stub = tmp_path / "no-ensurepip"
    stub.mkdir()
    (stub / "ensurepip.py").write_text('raise ImportError("No module named \'ensurepip\'", name="ensurepip")\n')
    python = DEBIAN_PYTHON if DEBIAN_PYTHON.exists() else pathlib.Path(sys.executable)
    env = {"PYTHONPATH": str(stub)}
    assert not has_venv(python, env=dict(os.environ, **env))
    run = deploy_tools(tmp_path, python, env_extra=env)
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "sudo apt install python3-venv" in out and "ensurepip" in out
    assert not (tmp_path / "venv").exists(), "no half-made environment is left"


def test_a_broken_venv_is_made_again(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("#!/bin/sh\nexit 1\n")
    (venv / "bin" / "python").chmod(0o755)
    python = pathlib.Path(getattr(sys, "_base_executable", sys.executable))
    if not has_venv(python):
        pytest.skip(f"{python} has no venv module")
    run = deploy_tools(tmp_path, python)
    assert run.returncode == 0, run.stdout + run.stderr
    assert installed_in(venv, PIN[0])[0] == PIN[1]
