"""The synthetic city (demo data) and the one-command demo."""
