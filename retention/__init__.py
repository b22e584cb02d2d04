"""Data lifecycle: how long drift reports, database rows and model versions are kept."""
