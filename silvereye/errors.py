"""The one exception the CLI turns into a one-line message.

Library code raises :class:`SilvereyeError` for anything a user caused or can
fix (a bad config value, an unreachable host, a missing tool); the CLI prints
``error: <message>`` and exits 1 without a traceback. Anything else is a bug
and is allowed to show its traceback.
"""


class SilvereyeError(Exception):
    """A user-facing failure: the message says what went wrong and what to do."""

    def __init__(self, message: str, *, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code
