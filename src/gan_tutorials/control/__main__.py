"""`python -m gan_tutorials.control`: see `gan_tutorials.control.cli`."""

from gan_tutorials.config import quiet_tensorflow

quiet_tensorflow()  # before TensorFlow loads: a CLI's first screen is its own

from gan_tutorials.control.cli import main  # noqa: E402

main()
