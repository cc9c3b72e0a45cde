"""Beyond step 4: the latent space in a browser, a Gradio page over run folders.

    python -m gan_tutorials.studio [RUN_DIR ...] [--host 127.0.0.1] [--port 7860]

One tab per step of the story: Draw (step 3's samples), Control (steering a
digit's measures, the article's closing promise), Explore (step 4 live) and
Runs (the folders' numbers). One job per part:

  shelf  the run folders, opened once and only read
  tabs   what each tab computes, as plain functions
  page   the Gradio page and its named endpoints (`build`)
  cli    the command line

Gradio is the optional group `studio` (`pip install "gan_tutorials[studio]"`,
or `make studio`); only `page` and `cli` import it.
"""


def build(run_dirs, **options):
    """The studio over run folders: a gr.Blocks to `.launch()` (see `page.build`)."""
    from gan_tutorials.studio.page import build as build_page  # gradio only when asked for
    return build_page(run_dirs, **options)
