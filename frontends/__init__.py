"""MIDAS frontends of CYGNO, installed as `cygno_mw.frontends`.

Each frontend is a MIDAS client built on the real `midas.frontend` API, started by MIDAS from
/Programs/<client name> (see odb_templates/programs.json) with e.g.
`python3 -m cygno_mw.frontends.camera_frontend -i 0 -D`:

- camera_frontend        sCMOS camera images as bank CAMn (drivers: sim, replay, dcam)
- slow_control_frontend  periodic slow-control readings with history (drivers: sim, opcua)
- pmt_frontend           PMT digitizer banks DGHn/DIGn (driver: sim)

Modules that subclass MIDAS classes import `midas` at their top; the entry modules check for
it first and exit with a clear message when MIDAS's Python package is not installed.
"""
