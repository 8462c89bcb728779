"""Device health of one equipment: MIDAS message, red status and an alarm on loss, and the
same undone on recovery, without flooding the message log while the device stays away."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

GREEN = "greenLight"
RED = "redLight"
YELLOW = "yellowLight"
ALARM_CLASS = "Alarm"  # predefined in every MIDAS experiment


class DeviceHealth:
    """Tracks whether an equipment's device works and when to try it again.

    `failed()` reports the first failure of a streak (later ones only refresh the status
    text); `retry_due()` says when to reconnect; `recovered()` reports the return.
    """

    def __init__(self, equipment: Any, device: str, retry_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.equipment = equipment
        self.device = device
        self.retry_s = retry_s
        self.clock = clock
        self.ok = True
        self.next_retry = 0.0
        self.alarm_name = f"{equipment.name} {device}"[:31]
        self._alarm_raised = False

    @property
    def client(self) -> Any:
        return self.equipment.client

    def failed(self, action: str, exc: BaseException | str) -> None:
        text = f"{self.device} {action} failed: {exc}"
        self.next_retry = self.clock() + max(self.retry_s, 0.0)
        self.equipment.set_status(text[:255], RED)
        if not self.ok:
            return
        self.ok = False
        self.client.msg(f"{self.equipment.name}: {text}; retrying every {self.retry_s:g} s",
                        is_error=True)
        try:
            self.client.trigger_internal_alarm(self.alarm_name, text[:79], ALARM_CLASS)
            self._alarm_raised = True
        except Exception as alarm_exc:  # an alarm problem must not stop the frontend
            self.client.msg(f"{self.equipment.name}: cannot raise alarm: {alarm_exc}", True)

    def retry_due(self) -> bool:
        return not self.ok and self.clock() >= self.next_retry

    def recovered(self, status_text: str) -> None:
        if self.ok:
            return
        self.ok = True
        self.client.msg(f"{self.equipment.name}: {self.device} is back")
        self.equipment.set_status(status_text, GREEN)
        if self._alarm_raised:
            try:
                self.client.reset_alarm(self.alarm_name)
            except Exception as alarm_exc:
                self.client.msg(f"{self.equipment.name}: cannot reset alarm: {alarm_exc}", True)
            self._alarm_raised = False
