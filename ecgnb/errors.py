"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class EcgnbError(Exception):
    """Bad input or state that the user can fix; the message says what and how."""
