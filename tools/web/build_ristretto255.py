"""Bundle ristretto255 for the browser verifier and write it into verify.html.

The page's private-mode checks (src/ringfence/entrypoints/pages/web/verify.html) need
ristretto255 (RFC 9496), SHA-512 and a multi-scalar multiplication, which WebCrypto does not
have. They come from @noble/curves and @noble/hashes (audited, MIT), at the pinned versions
below, bundled by esbuild into one script from tools/web/ristretto255-entry.js; the script is
written inline into the page between its ``<script id="ringfence-ristretto255">`` tags (the
page's Content-Security-Policy loads nothing), with the packages' licence. The page in the
repository carries the result; run this again only to change the versions:

    python tools/web/build_ristretto255.py [--npm-prefix DIR]   (default: build/web-bundle)
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

root = Path(__file__).resolve().parents[2]
page = root / "src" / "ringfence" / "entrypoints" / "pages" / "web" / "verify.html"
entry = Path(__file__).with_name("ristretto255-entry.js")
packages = ("@noble/curves@2.4.0", "@noble/hashes@2.4.0", "esbuild@0.28.2")
block = re.compile(r'(<script id="ringfence-ristretto255">\n).*?(</script>)', re.DOTALL)


def bundle(prefix: Path) -> str:
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
                    *packages], check=True)
    (prefix / "ristretto255-entry.js").write_text(entry.read_text())
    built = subprocess.run(
        [str(prefix / "node_modules" / ".bin" / "esbuild"), "ristretto255-entry.js", "--bundle",
         "--format=iife", "--minify", "--target=es2020", "--legal-comments=none"],
        cwd=prefix, check=True, capture_output=True, text=True).stdout
    licence = (prefix / "node_modules" / "@noble" / "curves" / "LICENSE").read_text().strip()
    header = (f"/* {', '.join(packages[:2])}, bundled by tools/web/build_ristretto255.py.\n"
              f"{licence}\n(The same licence and copyright cover @noble/hashes.) */\n")
    return header + built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npm-prefix", type=Path, default=root / "build" / "web-bundle")
    options = parser.parse_args()
    prefix = options.npm_prefix.resolve()
    prefix.mkdir(parents=True, exist_ok=True)
    script = bundle(prefix)
    text = page.read_text(encoding="utf-8")
    assert block.search(text), "verify.html has no ristretto255 script block"
    page.write_text(block.sub(lambda found: found[1] + script + found[2], text, count=1),
                    encoding="utf-8")


if __name__ == "__main__":
    main()
