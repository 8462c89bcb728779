"""ODB templates (MIDAS JSON), shipped as package data `cygno_mw.odb_templates`.

`cygno-mw odb install` merges every *.json file of this folder into a live ODB; see
cygno_mw/odb_install.py for the format.  Add a file per program or equipment.
"""
