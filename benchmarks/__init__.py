"""Benchmarks and the faithful tutorial port they measure against (not part of the package)."""
