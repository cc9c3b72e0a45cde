"""python -m gan_tutorials.tables: rewrite (or --check) the docs' marked tables."""

from gan_tutorials.tables import main

main()
