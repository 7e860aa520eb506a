"""The one exception users see: a single line naming the problem and the fix."""


class LabsError(Exception):
    """Bad input or a missing prerequisite. Its message is printed as is, without a traceback."""
