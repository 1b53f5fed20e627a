#!/usr/bin/env python3
"""Install the pinned tools of deploy/requirements.txt into their own virtual environment
(deploy/.venv by default), creating it first, and skip the pins already installed there.

    python3 deploy/tools.py --venv deploy/.venv                  # every pin
    python3 deploy/tools.py --venv deploy/.venv cargo-lambda     # only these names

The tools never go into the Python that runs this script: on Debian 12, Ubuntu 23.04+ and
Homebrew that Python is "externally managed" (PEP 668) and pip refuses to install into it.
That Python only creates the environment, which needs its `venv` and `ensurepip` modules:
Debian and Ubuntu ship them in a separate package, and this script stops with the line that
installs it when they are missing.
"""
import argparse
import json
import pathlib
import re
import shutil
import subprocess
import sys

DEPLOY = pathlib.Path(__file__).resolve().parent
# tomllib (the deploy tests read rules.toml and behaviours.toml with it).
MIN_PYTHON = (3, 11)
NO_VENV = """\
deploy tools: {python} cannot create a virtual environment ({reason}).
On Debian or Ubuntu, install the venv module of the system Python, then run make deploy-tools again:

    sudo apt install python3-venv

(or give another Python 3.11+: make deploy-tools DEPLOY_PYTHON=/path/to/python3)"""


def pins(requirements):
    out = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)", line)
        if not m:
            sys.exit(f"{requirements}: not a `name==version` pin: {line!r}")
        out[m.group(1).lower()] = m.group(2)
    return out


def venv_python(venv):
    return venv / "bin" / "python"


def can_create_venvs():
    """None when this Python has what `python -m venv` needs, else the reason it hasn't."""
    try:
        import ensurepip  # noqa: F401  (Debian/Ubuntu: only with python3-venv)
        import venv  # noqa: F401
    except ImportError as e:
        return f"no module {e.name or e}"
    return None


def create(venv):
    if sys.version_info < MIN_PYTHON:
        sys.exit(f"deploy tools: {sys.executable} is Python {sys.version.split()[0]}; "
                 f"the deploy tests need {'.'.join(map(str, MIN_PYTHON))}+ (DEPLOY_PYTHON=...)")
    reason = can_create_venvs()
    if reason:
        sys.exit(NO_VENV.format(python=sys.executable, reason=reason))
    print(f"deploy tools: creating {venv} with {sys.executable}", flush=True)
    run = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
    if run.returncode != 0 or not venv_python(venv).exists():
        # Half an environment would pass the existence check next time.
        shutil.rmtree(venv, ignore_errors=True)
        detail = (run.stderr or run.stdout).strip().splitlines()
        sys.exit(NO_VENV.format(python=sys.executable, reason=detail[-1] if detail else "python -m venv failed"))


def installed(venv, names):
    """{name: version or None} as the environment's own Python sees them."""
    probe = (
        "import importlib.metadata as m, json, sys\n"
        "def v(n):\n"
        "    try:\n"
        "        return m.version(n)\n"
        "    except m.PackageNotFoundError:\n"
        "        return None\n"
        "print(json.dumps({n: v(n) for n in sys.argv[1:]}))\n"
    )
    run = subprocess.run([str(venv_python(venv)), "-c", probe, *names], capture_output=True, text=True)
    if run.returncode != 0:
        return None
    return json.loads(run.stdout)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=pathlib.Path, default=DEPLOY / ".venv")
    parser.add_argument("--requirements", type=pathlib.Path, default=DEPLOY / "requirements.txt")
    parser.add_argument("names", nargs="*", help="pins to install (default: all)")
    args = parser.parse_args(argv)

    wanted = pins(args.requirements)
    unknown = [n for n in args.names if n.lower() not in wanted]
    if unknown:
        sys.exit(f"not pinned in {args.requirements}: {', '.join(unknown)}")
    selected = {n.lower(): wanted[n.lower()] for n in args.names} if args.names else wanted

    versions = installed(args.venv, list(selected)) if venv_python(args.venv).exists() else None
    if versions is None:
        # Missing, or broken (its base Python moved or was removed): made again.
        shutil.rmtree(args.venv, ignore_errors=True)
        create(args.venv)
        versions = {}
    missing = [f"{n}=={v}" for n, v in selected.items() if versions.get(n) != v]
    if not missing:
        print(f"deploy tools ({args.venv}): " + ", ".join(f"{n} {v}" for n, v in selected.items())
              + " (already installed)")
        return
    print(f"deploy tools: installing {' '.join(missing)} into {args.venv} (aws-sam-cli takes ~2.5 min)", flush=True)
    # Every selected pin together, so pip resolves them as one set.
    run = subprocess.run(
        [str(venv_python(args.venv)), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        + [f"{n}=={v}" for n, v in selected.items()]
    )
    if run.returncode != 0:
        sys.exit(f"deploy tools: pip could not install {' '.join(missing)} into {args.venv}")


if __name__ == "__main__":
    main(sys.argv[1:])
