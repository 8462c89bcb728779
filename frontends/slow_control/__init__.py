"""The slow-control frontend: periodic readings with MIDAS history (drivers: sim, opcua).

Started by MIDAS as `cygno-mw frontend slow-control -i N -D`.
"""
