"""The studio's command line: serve run folders (the committed references by default) on localhost."""

import argparse
import sys
import threading
from pathlib import Path

from gan_tutorials.studio.shelf import StudioError, reference_folders

INSTALL = 'the studio needs Gradio: pip install "gan_tutorials[studio]" (or make studio)'


def build_parser():
    """The studio CLI's flags."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.studio",
                                     description="Serve a page to draw, steer and explore run folders.")
    parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR",
                        help="run folders (default: the committed references under outputs/reference)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on")
    return parser


def main(argv=None):
    """CLI: build the page over the folders, print its URL, serve until Ctrl-C."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from gan_tutorials.studio.page import build
    except ImportError as err:
        if err.name != "gradio":
            raise
        parser.exit(2, f"{parser.prog}: {INSTALL}\n")
    folders = args.run_dirs or reference_folders()
    try:
        page = build(folders)
    except StudioError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    _, url, _ = page.launch(server_name=args.host, server_port=args.port, quiet=True,
                            prevent_thread_lock=True, show_error=True)
    print(f"studio: {url} serves {', '.join(Path(p).name for p in folders)}"
          " (Ctrl-C stops it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("studio: stopped", file=sys.stderr)
    finally:
        page.close()
