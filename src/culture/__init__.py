"""culture: measure leadership and quality culture in ISO 9001 organisations."""

__version__ = "0.1.0"
