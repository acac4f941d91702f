"""ucis — customer information, billing and service system for utilities (营销系统)."""

__version__ = "0.1.0"
