"""The pipeline contract: the names and numbers every stage agrees on (a leaf package)."""
