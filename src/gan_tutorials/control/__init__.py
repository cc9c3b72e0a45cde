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

from gan_tutorials.control.fit import (
                                      ATTRIBUTES,
                                      ControlError,
                                      Controller,
                                      control_dir,
                                      controller_for,
                                      fit_controller,
                                      fit_directions,
                                      load_controller,
                                      measure_array,
                                      save_controller,
)
from gan_tutorials.control.report import (
    article_candidates,
    article_method,
    control_report,
    pool_categories,
    score,
)
from gan_tutorials.control.steering import DAMPING, SHELL, TOLERANCE, Steered, steer, sweep

__all__ = ["ATTRIBUTES", "ControlError", "Controller", "control_dir", "controller_for",
           "fit_controller", "fit_directions", "load_controller", "measure_array",
           "save_controller", "article_candidates", "article_method", "control_report",
           "pool_categories", "score",
           "DAMPING", "SHELL", "TOLERANCE", "Steered", "steer", "sweep"]
