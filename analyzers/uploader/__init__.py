"""The uploader: a MIDAS client that only moves the SYSTEM buffer's events to S3, in chunks.

chunker.py (events -> chunk files), spool.py (chunk files waiting on local disk),
spool_room.py (room for the next event: spool limit, free disk), disk_guard.py (steps held
while the disk is full), shipper.py (S3 upload + SQL record, in order), shipping_thread.py
(the thread that ships, and the counters both threads keep), runfiles.py (mlogger's closed
run files), destinations.py (S3 store, database and run-file folder from the settings),
settings.py (the ODB paths, settings and their checks), odb_dump.py (the ODB dumps put in
chunks), buffer_source.py (the buffer read with GET_ALL), statistics.py (statistics, status,
alarm), program.py (the thin MIDAS client).
"""
