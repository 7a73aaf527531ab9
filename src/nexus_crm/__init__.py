"""NexusCRM agent-usage platform."""

__version__ = "0.1.0"
