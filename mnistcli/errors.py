"""Domain errors. The CLI turns every MnistError into one ``Error: ...`` line and exit 1."""


class MnistError(Exception):
    """Base class of every error the toolkit reports to a user (bad input, missing data)."""


class ParameterError(MnistError):
    """A parameter given a value it cannot take. The core names the parameter as its
    functions do (``epochs``, ``batch_size``); the CLI shows the flag the user typed
    (``--epochs``), so the core never speaks of flags."""

    def __init__(self, parameter: str, problem: str):
        self.parameter = parameter
        self.problem = problem
        super().__init__(f"{parameter.replace('_', ' ')} {problem}")


class DataError(MnistError):
    """A dataset file is missing, truncated, corrupt or inconsistent."""


class DataNotFoundError(DataError):
    """The dataset has not been downloaded."""


class DownloadError(MnistError):
    """No mirror could deliver a verified file."""


class ModelError(MnistError):
    """An unknown model name, a file that is not a model, or an incompatible model."""


class RunError(MnistError):
    """A run directory that is missing, incomplete or cannot be written."""


class ImageError(MnistError):
    """An image that cannot be read or holds no digit."""


class OutputError(MnistError):
    """A file or directory cannot be written where it was asked for."""


class RunRecordWarning(UserWarning):
    """A run skipped because its run.json is bad (the CLI shows one ``Warning: ...`` line)."""
