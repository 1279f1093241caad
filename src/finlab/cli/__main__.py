"""`python -m finlab.cli`: the same app as the `finlab` command."""

from finlab.cli import main

main()
