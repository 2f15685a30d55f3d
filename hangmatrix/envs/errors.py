"""The one error of the environment layer: why an interpreter or a cell environment cannot be had."""


class EnvError(Exception):
    """One-line reason. Cells of such an env become verdict `env-error`, never a hang or the program's error."""

    def __init__(self, reason, lasting=False):
        super().__init__(" ".join(str(reason).split()))
        self.lasting = lasting  # a property of the env (cached), not of the moment (network)
