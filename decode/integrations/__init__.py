"""Constraints inside other people's decoding loops (``transformers`` ``model.generate`` today).

Each integration is a module of its own and imports its framework only when used.
"""
