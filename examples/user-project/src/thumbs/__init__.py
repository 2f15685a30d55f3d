"""Our thumbnail service's rendering: CPU-bound work kept out of the event loop, in a process pool."""
