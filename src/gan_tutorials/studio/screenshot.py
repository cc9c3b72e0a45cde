"""The studio's picture for docs/studio.md: its Control tab, as Debian's chromium draws it.

    python -m gan_tutorials.studio.screenshot [docs/figures/studio.png]

Serves the reference runs (as `make studio` does) on a free loopback port,
opens the page in headless chromium through Playwright (which needs the
`playwright` package only: the browser is the system's `chromium`), shows the
Control tab with its first steered digits, and saves a PNG.
"""

import argparse
import shutil
import signal

from gan_tutorials.studio.shelf import reference_folders
from gan_tutorials.studio.timing import serve

SIZE = {"width": 1280, "height": 1100}


def screenshot(path, folders=None, url=None):
    """Save the Control tab of a studio to path: the one at url, or one started here over
    folders (default: the references)."""
    from playwright.sync_api import sync_playwright
    browser_path = shutil.which("chromium")
    if browser_path is None:
        raise SystemExit("no chromium on this machine: apt-get install chromium")
    process = None
    if url is None:
        process, url, _ = serve(folders or reference_folders())
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=browser_path)
            page = browser.new_page(viewport=SIZE)
            page.goto(url)
            page.get_by_role("tab", name="Control").click()
            page.locator("#steered img").wait_for()
            page.screenshot(path=str(path), full_page=True)
            browser.close()
    finally:
        if process is not None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.studio.screenshot",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("path", nargs="?", default="docs/figures/studio.png", help="the PNG to write")
    args = parser.parse_args(argv)
    screenshot(args.path)
    print(f"wrote {args.path}")


if __name__ == "__main__":
    main()
