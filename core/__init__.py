"""govwatch: defacement, file-integrity and traffic monitoring for government web sites."""

__version__ = "0.1.0"
