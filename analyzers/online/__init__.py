"""The online analyzer: a MIDAS client that reconstructs camera images from the SYSTEM buffer.

Started by MIDAS as `cygno-mw analyzer online -D` (/Programs/Online Analyzer); `analyzer.py`
is the client, the other modules are its parts (event source, run tracker, processing,
sinks, statistics, alarms, display).
"""
