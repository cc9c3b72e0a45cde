"""`python -m gan_tutorials.control`: see `gan_tutorials.control.cli`."""

from gan_tutorials.control.cli import main

main()
