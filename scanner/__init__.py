"""camaudit: find equipment of flagged vendors on networks you own, and track its removal."""

__version__ = "0.1.0"
