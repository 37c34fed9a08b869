"""Plain-record parsers for public datasets and label files (no database, no pixels loaded)."""
