"""`InfluxSink`: points for Grafana, written in the background so the caller never waits.

`write*` only appends a line to a bounded in-memory buffer (a deque under a lock, O(1)); when
the buffer is full the point is dropped and counted. A worker thread sends batches through
influxdb-client's v2 write API (InfluxDB 2.x/3.x, 1.8+ and compatible servers). A batch that
fails on the network or a 5xx/429 answer is retried with capped backoff for as long as the
sink runs (new points keep arriving in the buffer meanwhile, and overflow is counted); a batch
refused as bad (other 4xx) is dropped and counted. `stats()` reports written / dropped /
retries. The token comes from the environment (never the ODB), and never appears in logs.
"""

from __future__ import annotations

import collections
import logging
import threading
import time as time_module
from collections.abc import Mapping
from typing import Any

from . import credentials, influx_schema
from .errors import InfluxError
from .influx_schema import Measurement

log = logging.getLogger(__name__)


class InfluxSink:
    """Non-blocking, bounded, batched writer of points to one InfluxDB bucket."""

    def __init__(self, url: str, *, bucket: str = "cygno", org: str = "cygno",
                 token: str | None = None, token_env: str = credentials.INFLUX_TOKEN_ENV,
                 max_buffer: int = 100_000, batch_size: int = 5_000,
                 flush_interval: float = 1.0, timeout: float = 10.0,
                 initial_backoff: float = 0.5, max_backoff: float = 30.0) -> None:
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        if not url.startswith(("http://", "https://")):
            raise InfluxError(f"InfluxDB URL must be http(s)://, got {url!r}")
        self.url, self.bucket, self.org = url, bucket, org
        token = token or credentials.secret_from_env(token_env) or ""
        credentials.remember_secret(token)
        self._client = InfluxDBClient(url=url, token=token, org=org,
                                      timeout=int(timeout * 1000), retries=False)
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self.max_buffer = max_buffer
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self._buffer: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._in_flight = 0
        self._stats = {"written": 0, "dropped": 0, "rejected": 0, "retries": 0,
                       "failed_attempts": 0}
        self._last_error = ""
        self._failing = False  # the latest send failed (an outage, until a send succeeds)
        self._worker = threading.Thread(target=self._run, name="cygno-influx", daemon=True)
        self._worker.start()

    # -- caller side (never blocks on the network) ------------------------------------------
    def write(self, measurement: Measurement | str, tags: Mapping[str, Any],
              fields: Mapping[str, Any], time: Any = None) -> bool:
        """Queue one point; False if the buffer was full (the point is dropped and counted)."""
        if isinstance(measurement, str):
            try:
                measurement = influx_schema.MEASUREMENTS[measurement]
            except KeyError:
                raise InfluxError(f"unknown measurement {measurement!r}") from None
        text = influx_schema.line(measurement, tags, fields, time)
        if text is None:
            return True
        with self._lock:
            if len(self._buffer) >= self.max_buffer:
                self._stats["dropped"] += 1
                return False
            self._buffer.append(text)
            if len(self._buffer) >= self.batch_size:
                self._wake.notify()
        return True

    def write_reco(self, run: int, camera: int, image: Mapping[str, Any], *,
                   time: Any = None, processing_time_s: float | None = None,
                   cluster_light: float | None = None) -> bool:
        """One reconstructed image (the reconstruction's `image` dict)."""
        fields = {k: image.get(k) for k in ("nclusters", "cmos_integral", "cmos_mean",
                                             "cmos_rms")}
        fields.update(processing_time_s=processing_time_s, cluster_light=cluster_light)
        return self.write(influx_schema.RECO, {"run": run, "camera": camera}, fields, time)

    def write_image_quality(self, run: int, camera: int, *, time: Any = None,
                            **fields: Any) -> bool:
        return self.write(influx_schema.IMAGE_QUALITY, {"run": run, "camera": camera},
                          fields, time)

    def write_slow_control(self, equipment: str, values: Mapping[str, Any], *,
                           run: int | None = None, time: Any = None) -> bool:
        return self.write(influx_schema.SLOW_CONTROL, {"run": run, "equipment": equipment},
                          values, time)

    def write_daq(self, equipment: str, *, run: int | None = None, time: Any = None,
                  **fields: Any) -> bool:
        return self.write(influx_schema.DAQ, {"run": run, "equipment": equipment}, fields,
                          time)

    def write_analyzer(self, analyzer: str, *, run: int | None = None, time: Any = None,
                       **fields: Any) -> bool:
        return self.write(influx_schema.ANALYZER, {"run": run, "analyzer": analyzer}, fields,
                          time)

    def write_fe55(self, run: int, camera: int, *, time: Any = None, **fields: Any) -> bool:
        return self.write(influx_schema.FE55, {"run": run, "camera": camera}, fields, time)

    def stats(self) -> dict[str, Any]:
        """written, dropped (overflow), rejected (refused by the server), retries,
        buffered (waiting now), last_error (secrets removed)."""
        with self._lock:
            return {**self._stats, "buffered": len(self._buffer) + self._in_flight,
                    "last_error": self._last_error}

    def keeping_up(self) -> bool:
        """The latest send succeeded and less than a batch waits. Optional points (the
        online analyzer's statistics) are written only then: in an outage the bounded
        buffer is left to the results' points."""
        with self._lock:
            waiting = len(self._buffer) + self._in_flight
            return not self._failing and waiting < min(self.batch_size, self.max_buffer)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is sent (True) or `timeout` passes (False)."""
        deadline = time_module.monotonic() + timeout
        with self._lock:
            self._wake.notify()
        while time_module.monotonic() < deadline:
            with self._lock:
                if not self._buffer and not self._in_flight:
                    return True
                self._wake.notify()
            time_module.sleep(0.01)
        return False

    def close(self, timeout: float = 10.0) -> None:
        """Send what is buffered (up to `timeout`), count the rest as dropped, stop."""
        self.flush(timeout)
        self._stop.set()
        with self._lock:
            self._wake.notify()
        self._worker.join(timeout=self.max_backoff + 5)
        with self._lock:
            left = len(self._buffer)
            self._buffer.clear()
            self._stats["dropped"] += left
        if left:
            log.warning("InfluxDB %s: %d points not sent at close", self.url, left)
        self._client.close()

    def __enter__(self) -> InfluxSink:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- worker -------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if len(self._buffer) < self.batch_size:
                    self._wake.wait(self.flush_interval)
                count = min(len(self._buffer), self.batch_size)
                batch = [self._buffer.popleft() for _ in range(count)]
                self._in_flight = count
            if batch:
                self._send(batch)
            with self._lock:
                self._in_flight = 0

    def _send(self, batch: list[str]) -> None:
        """Send one batch; retry transient failures until sent or the sink stops."""
        backoff = self.initial_backoff
        while True:
            try:
                self._write_api.write(bucket=self.bucket, org=self.org, record=batch)
            except Exception as err:  # network errors come from urllib3, ssl, OSError...
                status = getattr(err, "status", None)
                message = credentials.scrub(f"{type(err).__name__}: {err}")[:300]
                with self._lock:
                    self._stats["failed_attempts"] += 1
                    self._last_error = message
                    self._failing = True
                if isinstance(status, int) and 400 <= status < 500 and status != 429:
                    with self._lock:
                        self._stats["rejected"] += len(batch)
                    log.error("InfluxDB %s refused %d points: %s", self.url, len(batch),
                              message)
                    return
                if self._stop.is_set():
                    with self._lock:
                        self._stats["dropped"] += len(batch)
                    return
                log.warning("InfluxDB %s write failed (%s); retrying in %.1f s", self.url,
                            message, backoff)
                with self._lock:
                    self._stats["retries"] += 1
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            with self._lock:
                self._stats["written"] += len(batch)
                self._failing = False
            return
