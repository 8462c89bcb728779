"""Camera reconstruction of CYGNO images: NumPy on the CPU, CuPy kernels on a GPU.

Modules are imported on demand (`cygno_mw.gpu.pipeline`, `.pedestals`, `.pmt_waveforms`...);
importing the package loads no GPU library.
"""
