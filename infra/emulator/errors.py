"""The one error the emulator reports to the person who started it."""


class ConfigError(Exception):
    """A configuration the emulator cannot start with; the message is the one line the user sees."""
