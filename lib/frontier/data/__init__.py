"""Shared data for the later sections (filled by section 8, finance, and section 6, knowledge).

What will live here: the fictional company's corpus (documents, filings, emails) that the knowledge and finance
lessons retrieve from and reason over, and its SQLite schema with a generator for reproducible synthetic
tables.  Shared module: it imports no course section (``tests/test_layering.py``).
"""
