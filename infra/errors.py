"""The one exception users see: a single line naming the problem and the fix."""


class LabsError(Exception):
    """Bad input or a missing prerequisite. Its message is printed as is, without a traceback."""


def tool_error_line(output: str) -> str:
    """A command-line tool's error output as one line. Its error lines, each once, in order: kubectl
    prints one "Error from server" per object it could not apply, and follows an "is invalid" reason with
    the object's diff; helm and the clouds' CLIs print "Error:"/"ERROR:". Then the commands it says to
    run (gcloud's `$ gcloud auth login` comes in the middle, its last line is a courtesy sentence).
    Without an error line, its last line."""
    lines = [line.strip() for line in (output or "").splitlines() if line.strip()]
    if not lines:
        return "no output"
    errors = [line for line in lines if line.lower().startswith(("error", "fatal")) or " is invalid: " in line]
    said = "; ".join(dict.fromkeys(errors)) if errors else lines[-1]
    commands = [line[1:].strip() for line in lines if line.startswith("$")]
    return said + (f" (run: {'; '.join(commands)})" if commands else "")
