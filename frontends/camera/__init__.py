"""The camera frontend: sCMOS images as bank CAMn (drivers: sim, replay, dcam).

Started by MIDAS as `cygno-mw frontend camera -i N -D`.
"""
