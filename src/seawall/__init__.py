"""Seawall: a privacy gateway between your users and your analytics vendors."""

__version__ = "0.1.0"
