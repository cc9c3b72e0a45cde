"""`python -m gan_tutorials.studio`: see `gan_tutorials.studio.cli`."""

from gan_tutorials.studio.cli import main

main()
