"""File sizes as people read them: "142 KB", "3.4 MB" (never "0.0 MB" for a small photo)."""

from __future__ import annotations


def file_size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{max(1, round(n / 1e3))} KB"
