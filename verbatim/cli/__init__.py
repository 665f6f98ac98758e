"""The `verbatim` command (the roof: it may import every layer)."""
