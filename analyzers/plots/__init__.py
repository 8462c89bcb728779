"""Pictures of the results for the elog: spectra, trends, event displays, pedestal maps.

Each module draws one kind of figure from what the analyzers wrote (SQL tables, reco and
pedestal files, run files) and returns the numbers it shows, so tests check the picture's
content rather than its pixels.  matplotlib is imported with the Agg backend (no display
needed) only when a figure is drawn.
"""
