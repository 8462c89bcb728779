"""Detector simulation of CYGNO/LIME: camera images, PMT waveforms, slow control and ODB.

Everything is deterministic given its seeds and comes with ground truth, so demos, tests
and benchmarks can check the reconstruction against what was injected.  Heavy pieces are
imported from their own modules:

- `sensor.SensorModel`            per-pixel pedestal/noise maps of one camera
- `signals.SignalMix`, `TrueSignal`  what is injected, and its truth
- `camera.CameraSimulator`        images (uint16) with their truth
- `truth.save_truth/load_truth`   the truth sidecar (Parquet) next to a MIDAS file
- `pmt.PmtSimulator`              DGH0/DIG0 waveforms correlated with the camera signals
- `slowcontrol.slow_control_readings`  drifting HV/gas/environment values
- `odb.lime_like_odb`             a begin-of-run ODB shaped like LIME's
- `run.simulate_run`              all of the above written as one MIDAS run
"""
