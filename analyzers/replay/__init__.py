"""The offline analyzer: `cygno-mw replay` of MIDAS files (local or s3://) and `cygno-mw demo`.

`session.py` replays files through the processing core shared with the online analyzer;
`file_source.py` reads them in a thread, `file_facts.py` hashes them, `demo.py` is the demo.
"""
