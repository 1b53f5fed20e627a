#!/usr/bin/env python3
"""Prints the Cloudflare Worker bundle's size beside the Lambda@Edge zip's (`make worker`).

Usage: bundle_sizes.py WORKER_BUILD_DIR EDGE_ZIP
Sizes are bytes; gzip is level 9, as a proxy for what Cloudflare counts (wrangler's own
figure comes from `wrangler deploy --dry-run`, asserted by tests/cf-worker/deploy.test.mjs).
"""
import gzip
import os
import sys
import zipfile


def gz(data: bytes) -> int:
    return len(gzip.compress(data, 9))


def main() -> None:
    build, edge_zip = sys.argv[1], sys.argv[2]
    total_raw = total_gz = 0
    for name in ("index.js", "index_bg.wasm"):
        data = open(os.path.join(build, name), "rb").read()
        total_raw += len(data)
        total_gz += gz(data)
        print(f"{build}/{name}: {len(data):,} bytes, {gz(data):,} gzip")
    print(f"Cloudflare Worker bundle: {total_raw:,} bytes, {total_gz:,} gzip (limit: 3 MB gzip free, 10 MB paid)")
    if os.path.exists(edge_zip):
        wasm = [n for n in zipfile.ZipFile(edge_zip).namelist() if n.endswith(".wasm")]
        inner = zipfile.ZipFile(edge_zip).read(wasm[0]) if wasm else b""
        print(f"Lambda@Edge zip {edge_zip}: {os.path.getsize(edge_zip):,} bytes (its .wasm: {len(inner):,} bytes, "
              f"{gz(inner):,} gzip; limit 1,048,576 zipped)")
    else:
        print(f"Lambda@Edge zip {edge_zip}: not built (make package-edge)")


if __name__ == "__main__":
    main()
