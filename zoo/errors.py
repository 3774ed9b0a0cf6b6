"""The one exception type for mistakes a user can make (bad paths, unknown names, bad data).

The CLI prints a ``ZooError`` as a single ``Error: ...`` line and exits non-zero; anything else
escaping is a bug and keeps its traceback.
"""


class ZooError(Exception):
    """A problem the user can fix; the message says what went wrong and how to fix it."""
