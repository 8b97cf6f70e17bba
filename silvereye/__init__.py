"""silvereye: a private, AWS-compatible cloud that fits in one box."""

__version__ = "0.1.0"
