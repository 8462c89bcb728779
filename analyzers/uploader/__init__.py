"""The uploader: a MIDAS client that only moves the SYSTEM buffer's events to S3, in chunks.

chunker.py (events -> chunk files), spool.py (chunk files waiting on local disk),
shipper.py (S3 upload + SQL record, in order), program.py (the thin MIDAS client).
"""
