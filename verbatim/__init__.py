"""Verbatim: question answering with verbatim quotes and exact citations."""

__version__ = "0.1.0"
