"""The exit codes of the `hangmatrix` command, named once; scripts and CI branch on them
(docs/reference.md has the table per command)."""

OK = 0  # done, and nothing to act on
FINDING = 1  # what the command looks for was found: diff a changed verdict, baseline a cell not as expected,
# upgrade-check a new hang, advise a change that fixes the program, merged a shard missing or run twice
# or a cell recorded twice; bisect: no release changed the verdict; envs build: a build failed for the
# moment (network), worth running again
BAD_INPUT = 2  # the command could not do its job: a bad option, file, setting or selection (one line on stderr)
INTERRUPTED = 130  # Ctrl-C: what was recorded is kept and said in one line (128 + SIGINT, as a shell reports it)
UNFIXED = 3  # advise: the program hangs or fails, and none of the candidate changes fixes it
