#!/usr/bin/env python3
"""Install the pinned tools of deploy/requirements.txt into the current Python, skipping
the ones already installed at the pinned version.

    python3 deploy/tools.py                 # every pin
    python3 deploy/tools.py cargo-lambda    # only these names
"""
import importlib.metadata
import pathlib
import re
import subprocess
import sys

REQUIREMENTS = pathlib.Path(__file__).with_name("requirements.txt")


def pins():
    out = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)", line)
        if not m:
            sys.exit(f"{REQUIREMENTS}: not a `name==version` pin: {line!r}")
        out[m.group(1).lower()] = m.group(2)
    return out


def installed(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def main(names):
    wanted = pins()
    unknown = [n for n in names if n.lower() not in wanted]
    if unknown:
        sys.exit(f"not pinned in {REQUIREMENTS}: {', '.join(unknown)}")
    selected = {n.lower(): wanted[n.lower()] for n in names} if names else wanted
    missing = [f"{n}=={v}" for n, v in selected.items() if installed(n) != v]
    if not missing:
        print("deploy tools: " + ", ".join(f"{n} {v}" for n, v in selected.items()) + " (already installed)")
        return
    print("deploy tools: installing " + " ".join(missing) + " (aws-sam-cli takes ~2.5 min)", flush=True)
    # Install every selected pin together so pip resolves them as one set.
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        + [f"{n}=={v}" for n, v in selected.items()],
        check=True,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
