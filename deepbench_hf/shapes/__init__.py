"""Geometric shapes: exact binary rasterisation (``render``) and the ``shapes`` dataset kind."""
