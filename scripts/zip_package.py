#!/usr/bin/env python3
"""Writes a deterministic deployment zip (fixed timestamps, sorted entries).

    zip_package.py OUT.zip BASE_DIR FILE...      create OUT.zip from BASE_DIR/FILE...
    zip_package.py --extract ZIP DIR             unpack (used by the tests: they load the
                                                 handler from the zip, as Lambda@Edge does)

Python's zipfile, so a fresh machine needs no `zip` binary.
"""
import sys
import zipfile
from pathlib import Path


def create(out: Path, base: Path, files: list[str]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, (base / name).read_bytes())


def main() -> None:
    if sys.argv[1] == "--extract":
        with zipfile.ZipFile(sys.argv[2]) as z:
            z.extractall(sys.argv[3])
        return
    create(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:])


if __name__ == "__main__":
    main()
