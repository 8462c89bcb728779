"""Analyzers: consumers of MIDAS events that reconstruct, monitor and store results."""
