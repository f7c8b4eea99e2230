"""Rendering results (the JSON written by a run) for terminals, Markdown and bug reports."""
