"""gan_tutorials: the "Demystifying GANs" tutorial (Keras + TensorFlow, MNIST), reproduced.

The modules follow the tutorial's story:
    config    the one training config: the tutorial's hyperparameters, as flags
    data      step 0: MNIST via tfds, offline when needed, scaled to [-1, 1]; its
              shape and classes (`MNIST`); each epoch's batches from (seed, epoch)
    models    steps 1 and 3: dense and one-hot conditional G, D and combined GAN,
              and the conv pair of the next lesson; loading a generator back
    steps     step 2: one batch's alternating D / G update (tutorial,
              train_on_batch, fused)
    train     steps 2 and 3: the epoch loop, previews, checkpoints
    runs      the run folder: its layout, --resume / --overwrite, checkpoints
    figures   drawing and saving: grids, GIFs, curves
    board     beyond the tutorial: TensorBoard events of a run, live or rebuilt
    judge     beyond the tutorial: the classifier (one per dataset) that reads the images
    evaluate  beyond the tutorial: a generator's scores from the judge
    latent    step 4 as computations: style measures, categories, scaling, sums
    explore   step 4: the latent-space figures of a run folder (RUN_DIR/explore)
    morphometry  beyond step 4: Morpho-MNIST's six shape measures of a digit
    control   beyond step 4: steer a digit to target measures (the article's
              closing promise), and report how well that holds; a subpackage
              of one job per part (fit, steering, report, files, cli)
    study     beyond the tutorial: one setting across seeds, the claims per seed
    compare   the next lesson: run folders side by side (dense against conv)
    bench     beyond the tutorial: speed of each engine against the machine
    tables    the docs' result tables, written from the committed files
    parallel  beyond the tutorial: step 2 data-parallel on several devices or
              processes (JAX)
    launch    beyond the tutorial: one run over several processes on this machine
    studio    beyond step 4: a Gradio page over run folders to draw, steer and
              explore (optional: `pip install .[studio]`)
"""

import os
import sys

__version__ = "0.1.0"


def _quiet_tensorflow():
    """Load TensorFlow with stderr muted, so a CLI's first screen is its own.

    TensorFlow prints absl and CUDA lines while its C++ libraries load, some
    of them before it reads TF_CPP_MIN_LOG_LEVEL (on a CPU machine an
    E-level "failed call to cuInit" reads like a failure). The level is set
    to 3 unless the user chose one; a failed import still raises, after
    stderr is back.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow  # noqa: F401  (the C++ libraries load here)
        import tensorflow_datasets  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


# `python -m gan_tutorials.<action>` imports this package first, while Python
# holds sys.argv[0] at "-m": the one place every action's start-up is quieted.
# An import from a notebook or a test leaves TensorFlow's output as it is.
if sys.argv[:1] == ["-m"]:
    _quiet_tensorflow()
