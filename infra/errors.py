"""The one exception users see: a single line naming the problem and the fix."""


class LabsError(Exception):
    """Bad input or a missing prerequisite. Its message is printed as is, without a traceback."""


def tool_error_line(output: str) -> str:
    """A command-line tool's error output as one line: its first error line, and the commands it says
    to run (gcloud's `$ gcloud auth login` comes in the middle, its last line is a courtesy sentence)."""
    lines = [line.strip() for line in (output or "").splitlines() if line.strip()]
    if not lines:
        return "no output"
    first = next((line for line in lines if line.lower().startswith(("error", "fatal"))), lines[0])
    commands = [line[1:].strip() for line in lines if line.startswith("$")]
    return first + (f" (run: {'; '.join(commands)})" if commands else "")
