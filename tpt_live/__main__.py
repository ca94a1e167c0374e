"""`python -m tpt_live` = `tpt-live` (used by `torchrun -m tpt_live train ...`)."""

from tpt_live.cli import main

main()
