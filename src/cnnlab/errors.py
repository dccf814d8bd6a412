"""Errors the user can fix: the pipelines print them as one line and exit non-zero."""


class CnnlabError(Exception):
    """Base of every error caused by input (config, data, geometry), not by a bug."""


class ConfigError(CnnlabError, ValueError):
    """A config value has the wrong type, is out of range, or names nothing known."""


class DataError(CnnlabError, ValueError):
    """A data source is missing, empty, corrupt or does not match what was asked for."""


class GeometryError(CnnlabError, ValueError):
    """A layer's geometry is impossible for its input (kernel, stride, padding, size)."""


class TrainingDiverged(CnnlabError, RuntimeError):
    """The loss became NaN or infinite."""
