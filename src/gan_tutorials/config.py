"""The one training config: the tutorial's hyperparameters as a frozen dataclass.

`python -m gan_tutorials.train` exposes every field as a flag of the same name
(`batch_size` -> `--batch-size`); choices and ranges are checked by argparse,
so a bad value ends in a one-line usage error and exit status 2. The other
CLIs check their numbers with the same `bounded` types.
"""

import argparse
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field


@dataclasses.dataclass(frozen=True)
class ImageSet:
    """A labelled grey-image dataset's shape and classes: their one home in the package."""

    name: str  # the tfds name
    image_shape: tuple  # (rows, columns, channels)
    num_classes: int  # labels are 0 .. num_classes - 1
    class_names: tuple = ()  # from tfds metadata: "T-shirt/top", ...; digits for MNIST

    @property
    def pixels(self):
        """Values per image: 784 for MNIST, the generator's last Dense width."""
        return math.prod(self.image_shape)


MNIST = ImageSet("mnist", (28, 28, 1), 10, tuple("0123456789"))


KINDS = ("gan", "cgan")
ARCHS = ("dense", "conv")
# The one list of engines (see `steps`); bench times them in this order.
ENGINES = ("tutorial", "train_on_batch", "fused")
LABEL_SAMPLINGS = ("uniform", "notebook")
# Adam's step per arch. Dense: the tutorial's. Conv: twice that reached the same
# judged accuracy and Frechet distance in half the epochs (docs/conv.md).
LEARNING_RATES = {"dense": 1e-4, "conv": 2e-4}


@dataclass(frozen=True)
class Config:
    """Every setting of a training run; defaults are the tutorial's."""

    # "kind", not "model": elsewhere a model is a Keras model. --model stays as an alias.
    kind: str = field(default="gan", metadata={"choices": KINDS, "aliases": ("--model",),
        "help": "gan: the dense GAN (step 1); cgan: the one-hot conditional GAN (step 3)"})
    arch: str = field(default="dense", metadata={"choices": ARCHS,
        "help": "dense: the tutorial's networks; conv: a DCGAN-style pair, the next lesson"})
    dataset: str = field(default="mnist", metadata={
        "help": "tfds name of a labelled grey-image dataset: mnist (the tutorial's), "
                "fashion_mnist (its stated next step), kmnist, ..."})
    epochs: int = field(default=100, metadata={"min": 1,
        "help": "passes over MNIST; the tutorial trains for 100"})
    batch_size: int = field(default=128, metadata={"min": 1,
        "help": "real images per step (D sees as many fakes again), as in the tutorial"})
    noise_dim: int = field(default=100, metadata={"min": 1,
        "help": "length of the generator's noise vector"})
    seed: int = field(default=1234, metadata={"min": 0,
        "help": "keras.utils.set_random_seed value; the tutorial uses 1234"})
    learning_rate: float | None = field(default=None, metadata={"min": 0.0,
        "help": "Adam step size for both D and the GAN; None: the arch's, 1e-4 for dense "
                "(the tutorial's), 2e-4 for conv (docs/conv.md)"})
    # Two levers beyond the tutorial, for the conv pair's missed goals (docs/conv.md).
    d_learning_rate: float | None = field(default=None, metadata={"min": 0.0,
        "help": "Adam step size for D alone; None: --learning-rate's. Above G's it is the "
                "two-time-scale rule (TTUR, Heusel et al. 2017)"})
    d_width: int | None = field(default=None, metadata={"min": 1,
        "help": "--arch conv only: D's channels at 14x14 (twice that at 7x7); None: G's "
                "(models.CONV_WIDTH)"})
    # The levers against collapse (`levers`, docs/collapse.md): each off by default.
    minibatch_std: int = field(default=0, metadata={"min": 0,
        "help": "D's last hidden layer gains the spread of each group of this many inputs "
                "(minibatch standard deviation, Karras et al. 2018); 0: off"})
    minibatch_by_class: bool = field(default=False, metadata={
        "help": "cgan with --minibatch-std: each input's spread is taken among the inputs of "
                "its group that share its class (groups of one digit), not the whole group"})
    pack: int = field(default=1, metadata={"min": 1,
        "help": "D judges this many inputs stacked as one (PacGAN, Lin et al. 2018); 1: off"})
    mode_seeking: float = field(default=0.0, metadata={"min": 0.0,
        "help": "weight of the mode-seeking term in G's loss (MSGAN, Mao et al. 2019); "
                "0: off, 0.1 a start (a strong one draws blank discs: docs/collapse.md)"})
    projection: bool = field(default=False, metadata={
        "help": "cgan only: a projection discriminator (Miyato & Koyama 2018), its layers "
                "spectrally normalized, in place of the joined label"})
    beta_1: float = field(default=0.5, metadata={"min": 0.0,
        "help": "Adam beta_1; 0.5 (not 0.9) is the usual GAN choice the tutorial keeps"})
    steps_per_epoch: int | None = field(default=None, metadata={"min": 1,
        "help": "batches per epoch; default: one pass over the training set (468)"})
    ema: float = field(default=0.0, metadata={"min": 0.0, "below": 1.0,
        "help": "momentum of an averaged copy of G's weights, updated after each G step and "
                "saved as generator-ema.keras (0: off; 0.999 is the usual value)"})
    label_sampling: str = field(default="uniform", metadata={"choices": LABEL_SAMPLINGS,
        "help": "cgan fake labels: uniform over 0-9, or notebook (maxval=9, never 9)"})
    engine: str = field(default="train_on_batch", metadata={"choices": ENGINES,
        "help": "tutorial: the loop as written (predict per batch); train_on_batch: the same "
                "loop with compiled draws; fused: both updates in one XLA program"})
    # Each compiled call has a fixed cost beyond the math; 12 steps share it
    # (docs/speed.md, "Why 12 steps per call").
    steps_per_call: int = field(default=12, metadata={"min": 1,
        "help": "fused engine: batches per compiled call (468 = 39 x 12); fewer compile faster"})
    devices: str = field(default="1", metadata={"parse": "devices",
        "help": "devices to train on, data-parallel (a count or all); above 1 needs "
                "KERAS_BACKEND=jax, and --batch-size stays the global batch"})
    # Several processes (JAX): keras.distribution.initialize's three settings; a
    # flag left unset falls back to its KERAS_DISTRIBUTION_* variable (`parallel`).
    coordinator: str | None = field(default=None, metadata={
        "help": "HOST:PORT of process 0 in a run over several processes "
                "(KERAS_DISTRIBUTION_JOB_ADDRESSES); needs KERAS_BACKEND=jax"})
    processes: int | None = field(default=None, metadata={"min": 1,
        "help": "how many processes train the run together (KERAS_DISTRIBUTION_NUM_PROCESSES)"})
    process_id: int | None = field(default=None, metadata={"min": 0,
        "help": "this process's number, 0 to --processes - 1; process 0 writes the run folder "
                "(KERAS_DISTRIBUTION_PROCESS_ID)"})
    join_timeout: int = field(default=60, metadata={"min": 1,
        "help": "seconds a process waits for every process to join before it gives up"})
    eval_every: int = field(default=0, metadata={"min": 0,
        "help": "score the generator with the dataset's judge every K epochs (0: never)"})
    keep_best: bool = field(default=False, metadata={
        "help": "with --eval-every: keep the generator (and its --ema average) of the epoch "
                "with the lowest Frechet distance as generator-best.keras "
                "(generator-ema-best.keras), its epoch in best.json"})
    out: str | None = field(default=None, metadata={
        "help": "run folder; default outputs/<kind>"})
    data_dir: str | None = field(default=None, metadata={
        "help": "TFDS data dir; default $TFDS_DATA_DIR or ~/tensorflow_datasets"})
    resume: bool = field(default=False, metadata={
        "help": "continue the run in --out from its last completed epoch"})
    overwrite: bool = field(default=False, metadata={
        "help": "start afresh even if --out already holds results"})
    quiet: bool = field(default=False, metadata={
        "help": "log one line per epoch and no progress bars"})

    def __post_init__(self):
        if self.learning_rate is None:  # the arch's default, so config.json states the number
            object.__setattr__(self, "learning_rate", LEARNING_RATES.get(self.arch))
        if self.d_width is not None and self.arch != "conv":
            raise ValueError(f"--d-width: the {self.arch} pair has no channel width; "
                             "it applies to --arch conv")
        for f in dataclasses.fields(self):  # the flags' rules, for a config built in code too
            check_field(f, getattr(self, f.name))
        if self.projection and not self.conditional:
            raise ValueError("--projection: a projection discriminator reads the label; it "
                             "needs --kind cgan")
        if self.minibatch_by_class and not (self.conditional and self.minibatch_std):
            raise ValueError("--minibatch-by-class splits each --minibatch-std group by the "
                             "label: it needs --kind cgan and --minibatch-std G")
        if self.minibatch_by_class and self.pack > 1:
            raise ValueError("--minibatch-by-class with --pack: a pack stacks digits of several "
                             "classes, so its spread has no one class")
        if self.keep_best and not self.eval_every:
            raise ValueError("--keep-best needs --eval-every K: it keeps the best of the epochs "
                             "the judge scores")
        group = self.pack * max(self.minibatch_std, 1)  # D's groups must not mix real and fake
        if self.batch_size % group:
            raise ValueError(f"--batch-size {self.batch_size} is not a multiple of --pack x "
                             f"--minibatch-std ({group}): D's groups would mix real and fake")

    @property
    def run_dir(self):
        """The run folder: --out, or outputs/<kind>."""
        return self.out or f"outputs/{self.kind}"

    @property
    def d_rate(self):
        """D's Adam step: --d-learning-rate, or unset, G's (one rate, as in the tutorial)."""
        return self.learning_rate if self.d_learning_rate is None else self.d_learning_rate

    @property
    def conditional(self):
        """True for the one-hot conditional GAN."""
        return self.kind == "cgan"


# Fields that say where and how a run was started, not what it learns: --config
# does not take them from a saved run, and TensorBoard's hparams leave them out.
RUN_PLACE = ("out", "data_dir", "resume", "overwrite", "quiet", "coordinator", "processes",
             "process_id", "join_timeout")
# Fields that only steer a run, not what it learns: a resume may change them.
# (The engines do the same math on the same draws, so the engine is one.)
# (Nor does the device count: a checkpoint holds plain arrays.)
RESUME_MAY_CHANGE = (*RUN_PLACE, "epochs", "eval_every", "engine", "steps_per_call", "devices")


# Names a field had in older run folders' config.json, and its name now.
RENAMED = {"model": "kind"}


def bounded(type_, low=None, below=None):
    """An argparse type that parses `type_` (int or float) within [low, below)."""
    def parse(text):
        try:
            value = type_(text)
        except ValueError:
            noun = {int: "an integer", float: "a number"}[type_]
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {text}")
        if below is not None and value >= below:
            raise argparse.ArgumentTypeError(f"must be < {below}, got {text}")
        return value
    return parse


def devices_flag(text):
    """argparse type of --devices: a count >= 1, or all (returned as text)."""
    if text == "all":
        return text
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a device count >= 1 or 'all', got {text!r}")
    return str(count)


PARSERS = {"devices": devices_flag}  # fields whose flag takes its own parser


def flag(name):
    """The command-line flag of a Config field: batch_size -> --batch-size."""
    return "--" + name.replace("_", "-")


def check_field(f, value):
    """Raise ValueError naming the flag unless value keeps the field's choices and bounds."""
    meta = f.metadata
    if "choices" in meta and value not in meta["choices"]:
        raise ValueError(f"{flag(f.name)}: invalid choice: {value!r} "
                         f"(choose from {', '.join(meta['choices'])})")
    try:
        if "parse" in meta:
            PARSERS[meta["parse"]](str(value))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            bounded(type(value), meta.get("min"), meta.get("below"))(str(value))
    except argparse.ArgumentTypeError as err:
        raise ValueError(f"{flag(f.name)}: {err}") from None


def as_flags(config, skip=()):
    """The flags that rebuild `config`: one per field off its default, but those in skip."""
    flags = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name in skip or value == f.default or value is False:
            continue
        flags += [flag(f.name)] if value is True else [flag(f.name), str(value)]
    return flags


def _base_type(annotation):
    """The non-None type of an annotation such as `int | None`."""
    if isinstance(annotation, types.UnionType):
        return next(t for t in typing.get_args(annotation) if t is not type(None))
    return annotation


def add_config_flags(parser, cls=Config, skip=()):
    """Add one flag per dataclass field, named after the field (but those in `skip`)."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        meta, type_ = f.metadata, _base_type(f.type)
        flags = (flag(f.name), *meta.get("aliases", ()))
        if type_ is bool:
            parser.add_argument(*flags, dest=f.name, action="store_true", help=meta.get("help"))
            continue
        parse = (PARSERS[meta["parse"]] if "parse" in meta else
                 type_ if type_ is str else bounded(type_, meta.get("min"), meta.get("below")))
        parser.add_argument(*flags, dest=f.name, type=parse, choices=meta.get("choices"),
                            default=f.default, help=f"{meta.get('help')} (default: {f.default})")
    return parser


def config_from_args(args, cls=Config):
    """Build a config from a parsed argparse namespace."""
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


def upgrade(saved):
    """A saved config dict in today's names (model -> kind); runs before --dataset were MNIST,
    runs before --ema had no average, and runs before --d-learning-rate and --d-width gave
    D G's rate and width, and runs before the levers had none."""
    renamed = {RENAMED.get(k, k): v for k, v in saved.items()}
    return {"dataset": "mnist", "ema": 0.0, "d_learning_rate": None, "d_width": None,
            "minibatch_std": 0, "minibatch_by_class": False, "pack": 1, "mode_seeking": 0.0,
            "keep_best": False, "projection": False, **renamed}
