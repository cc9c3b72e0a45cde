"""Beyond step 4: absolute control of a digit's style, the article's closing promise.

    python -m gan_tutorials.control RUN_DIR --digit 7 --slant 15 --thickness 3 --out DIR
    python -m gan_tutorials.control RUN_DIR --digit 7 --sweep slant --from -20 --to 30 --out DIR
    python -m gan_tutorials.control RUN_DIR --report

The tutorial sorts noise into four style categories by eye and scales their
averages; it ends by hoping a fuller classification could give "absolute
control over the output". Here a request names a digit and target values of
Morpho-MNIST's measures, and `steer` returns noise whose digit has them.
One job per part:

  fit       the pool, the directions' R^2 and the surrogate, kept in RUN_DIR/control/
  steering  a request's start and its measured corrections
  report    control measured on a grid of requests, beside the article's method
  files     what a request, a sweep and the report write
  cli       the command line
"""

import importlib

# What `from gan_tutorials import control; control.steer(...)` reaches, and the
# part that holds it. The parts load on first use, not here: `python -m
# gan_tutorials.control` imports this file before its __main__ can quiet
# TensorFlow's start-up lines.
_PARTS = {"fit": ("ATTRIBUTES", "ControlError", "Controller", "control_dir", "controller_for",
                  "fit_controller", "fit_directions", "load_controller", "measure_array",
                  "save_controller"),
          "report": ("article_candidates", "article_method", "control_report", "score"),
          "steering": ("DAMPING", "SHELL", "TOLERANCE", "Steered", "steer", "sweep")}
_HOME = {name: part for part, names in _PARTS.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
