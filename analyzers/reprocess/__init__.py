"""Re-processing campaigns on Dask: the replay's pipeline, one task per run (a file, or the
uploader's chunks of one run), into a named processing pass.

inputs.py (what to process), tasks.py (what a worker does), campaign.py (submitting, progress,
summary), follow.py (quasi-online: new runs from the `chunks` table).
"""
