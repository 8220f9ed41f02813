"""Check the built documentation site in headless Chromium.

Loads the index, two API pages, two gallery pages and the comparison page ("why fastntk") of
``docs/_build/html`` (served on 127.0.0.1 by a local HTTP server) and fails on:

- a local link (``href``/``src`` within the site) that does not resolve to a file;
- an image that the browser did not load (``naturalWidth == 0``);
- maths left as raw LaTeX: a page with maths must have MathJax's rendered output
  (``mjx-container``) and no ``\\(`` or ``$$`` left in its visible text.

With ``--screenshots DIR`` it saves a full-page PNG of each page. Needs playwright (the ``docs``
extra) and Chromium (Debian's ``chromium`` package: ``/usr/bin/chromium``, or ``--chromium``).

Usage: python scripts/check_site.py [--site docs/_build/html] [--screenshots DIR]
"""

import argparse
import functools
import http.server
import pathlib
import sys
import threading
import urllib.parse

PAGES = [
    "index.html",
    "api/generated/fastntk.NTK.html",
    "api/generated/fastntk.CNTK.html",
    "gallery/plot_05_dual_activations.html",
    "gallery/plot_09_convolutional_digits.html",
    "why.html",
]

# Flags that keep Chromium off the network: a closed network refuses its background requests.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

PAGE_FACTS = """() => ({
    links: [...document.querySelectorAll('a[href], img[src], link[href], script[src]')]
        .map(e => e.getAttribute('href') || e.getAttribute('src')),
    broken_images: [...document.images].filter(i => !i.complete || i.naturalWidth === 0)
        .map(i => i.getAttribute('src')),
    images: document.images.length,
    has_math: document.querySelector('.math, mjx-container') !== null,
    rendered_math: document.querySelectorAll('mjx-container').length,
    text: document.body.innerText,
})"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def missing_targets(site, page, links):
    """The local links of ``page`` whose file is not in ``site``."""
    missing = []
    for link in links:
        parsed = urllib.parse.urlparse(link)
        if parsed.scheme or parsed.netloc or not parsed.path:
            continue  # external, or an anchor within the page
        target = (site / page).parent / urllib.parse.unquote(parsed.path)
        if target.is_dir():
            target = target / "index.html"
        if not target.resolve().is_file():
            missing.append(link)
    return missing


def check(site, chromium, screenshots):
    from playwright.sync_api import sync_playwright

    server = serve(site)
    base = f"http://127.0.0.1:{server.server_port}/"
    failures = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for name in PAGES:
            if not (site / name).is_file():
                failures.append(f"{name}: not built")
                continue
            page.goto(base + name, wait_until="networkidle")
            if page.query_selector(".math"):
                page.wait_for_selector("mjx-container", timeout=20000)
            facts = page.evaluate(PAGE_FACTS)
            problems = [
                f"broken link {link}" for link in missing_targets(site, name, facts["links"])
            ]
            problems += [f"image not loaded {src}" for src in facts["broken_images"]]
            if facts["has_math"] and facts["rendered_math"] == 0:
                problems.append("maths not rendered by MathJax")
            if "\\(" in facts["text"] or "$$" in facts["text"]:
                problems.append("raw LaTeX in the page's text")
            print(f"{name}: {facts['images']} images, {facts['rendered_math']} rendered formulas, "
                  f"{len(facts['links'])} links: {'; '.join(problems) or 'ok'}")  # fmt: skip
            failures += [f"{name}: {problem}" for problem in problems]
            if screenshots:
                screenshots.mkdir(parents=True, exist_ok=True)
                page.screenshot(
                    path=str(screenshots / (name.replace("/", "_") + ".png")), full_page=True
                )
        browser.close()
    server.shutdown()
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default="docs/_build/html", type=pathlib.Path)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--screenshots", type=pathlib.Path)
    args = parser.parse_args()
    failures = check(args.site.resolve(), args.chromium, args.screenshots)
    for failure in failures:
        print("FAIL", failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
