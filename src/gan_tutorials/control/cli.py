"""Control, part 5: the command line.

    python -m gan_tutorials.control RUN_DIR --digit 7 --slant 15 --thickness 3 --out DIR
        [--height PX] [--width PX] [--length PX] [--area PX2] [--hold ATTR ...] [--n 16] [--seed S]
    python -m gan_tutorials.control RUN_DIR --digit 7 --sweep slant --from -20 --to 30 --out DIR
    python -m gan_tutorials.control RUN_DIR --report
"""

import argparse
from pathlib import Path

import numpy as np

from gan_tutorials import morphometry, runs
from gan_tutorials.config import MNIST, bounded
from gan_tutorials.control.files import save_grid, save_report, save_steered, save_sweep
from gan_tutorials.control.fit import ATTRIBUTES, ControlError, control_dir, controller_for
from gan_tutorials.control.report import control_report
from gan_tutorials.control.steering import steer, sweep
from gan_tutorials.judge import get_judge
from gan_tutorials.models import GeneratorError


def finite(text):
    """argparse type: a finite float."""
    value = float(text)
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def build_parser():
    """Flags: the run, the digit, a target per attribute, holds, a sweep, or --report."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.control",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", help="a cgan run folder holding generator.keras")
    parser.add_argument("--digit", type=int, choices=range(MNIST.num_classes), metavar="D")
    for name in ATTRIBUTES:
        parser.add_argument(f"--{name}", type=finite, metavar=morphometry.UNITS[name].upper(),
                            help=f"target {name} ({morphometry.UNITS[name]})")
    parser.add_argument("--hold", nargs="+", default=[], choices=ATTRIBUTES, metavar="ATTR",
                        help="attributes kept at the starting noise's values")
    parser.add_argument("--n", type=bounded(int, 1), default=16, help="digits (or sweep frames)")
    parser.add_argument("--seed", type=bounded(int, 0), default=0, help="seed of the starting noise")
    parser.add_argument("--sweep", choices=ATTRIBUTES, metavar="ATTR", help="attribute to sweep")
    parser.add_argument("--from", dest="low", type=finite, help="sweep start")
    parser.add_argument("--to", dest="high", type=finite, help="sweep end")
    parser.add_argument("--out", help="output folder for a request or a sweep, or for --report "
                        "(default RUN_DIR/control)")
    parser.add_argument("--report", action="store_true",
                        help="measure control quality; write RUN_DIR/control/control.json")
    parser.add_argument("--overwrite", action="store_true",
                        help="--report: replace a control.json that says otherwise")
    parser.add_argument("--average", action="store_true",
                        help="steer the run's --ema average (generator-ema.keras) instead of G; its "
                             "fit and report go to RUN_DIR/ema/control/")
    return parser


def check_args(parser, args):
    """Exit 2 with one line for flags that do not make a request."""
    targets = {a: getattr(args, a) for a in ATTRIBUTES if getattr(args, a) is not None}
    if args.report:
        return targets
    if args.digit is None or args.out is None:
        parser.error("a request needs --digit and --out (or pass --report)")
    if args.sweep is not None and (args.low is None or args.high is None):
        parser.error("--sweep needs --from and --to")
    if args.sweep is None and not targets:
        parser.error(f"name at least one target: {', '.join('--' + a for a in ATTRIBUTES)}")
    return targets


def main(argv=None):
    """CLI: steer a request, sweep an attribute, or report control quality."""
    parser = build_parser()
    args = parser.parse_args(argv)
    targets = check_args(parser, args)
    try:
        ctl = controller_for(args.run_dir, average=args.average)
        if args.average:
            print(f"steering the average: {runs.generator_file(args.run_dir, True)}")
        if args.report:
            numbers, arrays = control_report(ctl, get_judge("mnist"))
            folder = Path(args.out or control_dir(args.run_dir, args.average))
            written = runs.should_write(folder / "control.json", numbers, args.overwrite)
            if written:
                save_report(ctl, numbers, arrays, folder)
            print(headline(numbers) + f"\n{'wrote' if written else 'unchanged:'} {folder}")
            return
        if args.sweep is not None:
            hold = args.hold or None
            steered = sweep(ctl, args.digit, args.sweep, np.linspace(args.low, args.high, args.n),
                            hold=hold, seed=args.seed)
            save_sweep(args.out, steered, args.sweep)
        else:
            steered = steer(ctl, [args.digit] * args.n, targets, args.hold, seed=args.seed)
            save_grid(Path(args.out) / "grid.png", steered.images)
        save_steered(args.out, steered)
    except (GeneratorError, ControlError, runs.RunError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    print(describe(ctl, steered) + f"\nwrote {args.out}")


def describe(ctl, steered):
    """One line per constrained attribute: requested, achieved median and worst error."""
    lines = []
    error = steered.error_sd(ctl)
    for j, name in enumerate(ATTRIBUTES):
        if np.all(np.isnan(steered.requested[:, j])):
            continue
        gap = error[:, j] * ctl.sd(steered.digits)[:, j]  # the same miss, in the measure's units
        lines.append(f"{name:9s} {'held' if steered.held[0, j] else 'target'}: median miss "
                     f"{np.median(gap):.3f} {morphometry.UNITS[name]} ({np.median(error[:, j]):.3f} SD), "
                     f"worst {gap.max():.3f}")
    return "\n".join(lines)


def headline(numbers):
    """The report's headline numbers."""
    lines = []
    for band in ("band", "extrapolation"):
        for method in ("steer", "article"):
            r = numbers[band][method]
            lines.append(f"{band:13s} {method:7s} success {r['success']:.1%}  "
                         f"judge {r['judge_accuracy']:.1%}  "
                         + "  ".join(f"{a} {v['median_sd']:.3f}/{v['p90_sd']:.3f} SD"
                                     for a, v in r["attributes"].items() if "median_sd" in v))
    steer_band = numbers["band"]["steer"]
    lines.append(f"{steer_band['requests']} requests in {steer_band['seconds']:.1f} s")
    return "\n".join(lines)
