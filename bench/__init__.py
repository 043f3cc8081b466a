"""Benchmarks and the realistic mail generator they run on (not part of the installed package)."""
