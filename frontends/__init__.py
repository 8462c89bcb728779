"""MIDAS frontends of CYGNO, installed as `cygno_mw.frontends`: one folder per program.

Each frontend is a MIDAS client built on the real `midas.frontend` API, started by MIDAS from
/Programs/<client name> with `cygno-mw frontend KIND -i N -D`:

- camera/        sCMOS camera images as bank CAMn (drivers: sim, replay, dcam)
- slow_control/  periodic slow-control readings with history (drivers: sim, opcua)
- pmt/           PMT digitizer banks DGHn/DIGn (driver: sim)

The modules at this level are what the three share: the driver lifecycle of an equipment,
the driver registry, settings validation, equipment status and the NumPy event.
"""
