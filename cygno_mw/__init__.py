"""cygno-mw: data middleware of the CYGNO optical time-projection chamber.

The top-level package holds what frontends and analyzers share: the MIDAS event and
file format (`cygno_mw.midasfile`), the detector simulation (`cygno_mw.simulation`)
and the command line (`cygno_mw.cli`).  The user's folders are installed beneath it
as `cygno_mw.frontends`, `cygno_mw.analyzers` and `cygno_mw.gpu`.
"""

__version__ = "0.1.0"
