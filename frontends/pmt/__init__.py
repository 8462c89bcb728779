"""The PMT digitizer frontend: banks DGHn/DIGn in the V1742/V1720 layout (driver: sim).

Started by MIDAS as `cygno-mw frontend pmt -i N -D`.
"""
