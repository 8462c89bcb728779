"""The PMT digitizer banks of a CYGNO event (`DGH0` header, `DIG0` samples) and DRS4 tables.

Layout as the experiment's frontend writes it and its Python library reads it:

`DGH0` (TID_DWORD, uint32)::

    [1000,]                 only in the newer "versioned" layout (DAQ version word)
    n_boards
    per board:
        model               1742 (V1742, DRS4) or 1720 (V1720)
        n_samples           1024 for the V1742, 4000 for the V1720 in LIME
        n_channels          32 / 8
        n_events            PMT triggers read out with this camera event (0..128)
        adc_max             2**ADC bits (4096)
        sampling            sampling rate in MS/s (this code: 750 / 250)
        offsets[n_channels] DC offset as uint32(offset * 65536 + 32768), offset in [-0.5, 0.5]
        ttt[n_events]       trigger time tags
        [ttt2[n_events]]    versioned layout only: second tag (V1742 group 1 / V1720 pattern)
        start_cell[n_events]  V1742 only: DRS4 start index cell

`DIG0` (TID_WORD, uint16): board after board, event after event, channel after channel,
`n_samples` samples each.

The V1742's raw samples carry the DRS4 per-cell and per-sample offsets unless the board's
own correction is on (`/Configurations/DRS4Correction`).  With the calibration tables
(`cell`, `nsample`, shape (8, 1024): the first 8 channels) the raw sample i of channel c
in an event with start cell s is

    raw[c, i] = true[c, i] + cell[c, (i + s) % 1024] + nsample[c, i]

and the reconstruction's `cygno_mw.gpu.pmt_waveforms.drs4_correct` subtracts exactly that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cygno_mw.errors import CygnoError

V1742 = 1742
V1720 = 1720
DAQ_VERSION_WORD = 1000
DRS4_CELLS = 1024
DRS4_TABLE_CHANNELS = 8


class PmtBankError(CygnoError):
    """A DGH0/DIG0 pair that does not follow the layout."""


@dataclass(eq=False)
class BoardData:
    """One digitizer's share of an event: waveforms (events, channels, samples) uint16."""

    model: int
    waveforms: np.ndarray
    trigger_tags: np.ndarray  # (events,) uint32
    start_cells: np.ndarray | None = None  # (events,) V1742 only
    offsets: np.ndarray | None = None  # (channels,) DC offsets in [-0.5, 0.5]
    adc_max: int = 4096
    sampling_rate: int = 0  # MS/s
    trigger_tags_2: np.ndarray | None = None  # versioned layout only

    def __post_init__(self) -> None:
        self.waveforms = np.asarray(self.waveforms)
        if self.waveforms.ndim != 3:
            raise PmtBankError("board waveforms must be (events, channels, samples)")
        n_events, n_channels, _ = self.waveforms.shape
        self.trigger_tags = np.asarray(self.trigger_tags, dtype=np.uint32).reshape(-1)
        if self.trigger_tags.size != n_events:
            raise PmtBankError(f"{self.trigger_tags.size} trigger tags for {n_events} events")
        if self.offsets is None:
            self.offsets = np.zeros(n_channels)
        self.offsets = np.asarray(self.offsets, dtype=np.float64).reshape(-1)
        if self.offsets.size != n_channels:
            raise PmtBankError(f"{self.offsets.size} DC offsets for {n_channels} channels")
        if self.model == V1742:
            if self.start_cells is None:
                self.start_cells = np.zeros(n_events, dtype=np.uint32)
            self.start_cells = np.asarray(self.start_cells, dtype=np.uint32).reshape(-1)
            if self.start_cells.size != n_events:
                raise PmtBankError(f"{self.start_cells.size} start cells for {n_events} events")

    @property
    def n_events(self) -> int:
        return int(self.waveforms.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.waveforms.shape[1])

    @property
    def n_samples(self) -> int:
        return int(self.waveforms.shape[2])


def encode_pmt_banks(
    boards: Sequence[BoardData], *, versioned: bool = False
) -> dict[str, np.ndarray]:
    """`{"DGH0": uint32 header, "DIG0": uint16 samples}` for these boards, in this order.

    `versioned` writes the newer layout (leading 1000 and a second trigger-tag list);
    the default is the layout the experiment's `cygno` library decodes.
    """
    header: list[np.ndarray] = []
    if versioned:
        header.append(np.array([DAQ_VERSION_WORD], dtype=np.uint32))
    header.append(np.array([len(boards)], dtype=np.uint32))
    samples: list[np.ndarray] = []
    for board in boards:
        offsets = np.rint(np.clip(board.offsets, -0.5, 0.5) * 65536 + 32768)
        header += [
            np.array([board.model, board.n_samples, board.n_channels, board.n_events,
                      board.adc_max, board.sampling_rate], dtype=np.uint32),
            np.minimum(offsets, 0xFFFFFFFF).astype(np.uint32),
            board.trigger_tags,
        ]
        if versioned:
            tags_2 = board.trigger_tags_2
            header.append(np.zeros(board.n_events, np.uint32) if tags_2 is None
                          else np.asarray(tags_2, dtype=np.uint32).reshape(board.n_events))
        if board.model == V1742:
            header.append(board.start_cells)  # type: ignore[arg-type]
        samples.append(np.asarray(board.waveforms, dtype=np.uint16).reshape(-1))
    return {
        "DGH0": np.concatenate(header),
        "DIG0": np.concatenate(samples) if samples else np.zeros(0, dtype=np.uint16),
    }


def decode_pmt_banks(dgh0: Any, dig0: Any) -> list[BoardData]:
    """The boards of one event from its DGH0/DIG0 banks (either layout); PmtBankError if bad.

    Accepts arrays or reader banks (anything with `.data`).  Waveforms are views into
    `dig0` (no copy), shaped (events, channels, samples).
    """
    dgh0 = _integer_bank("DGH0", dgh0)
    header = dgh0.view(np.uint32) if dgh0.dtype.itemsize == 4 else dgh0.astype(np.uint32)
    header = header.reshape(-1)
    samples = _integer_bank("DIG0", dig0).reshape(-1)
    if samples.dtype != np.uint16:
        samples = samples.astype(np.uint16)
    if header.size == 0:
        raise PmtBankError("empty DGH0 bank")
    versioned = int(header[0]) == DAQ_VERSION_WORD
    cursor = 1 if versioned else 0
    reader = _Words(header, cursor)
    n_boards = reader.take(1)[0]
    if n_boards > 64:
        raise PmtBankError(f"DGH0 claims {n_boards} boards")
    boards: list[BoardData] = []
    sample_cursor = 0
    for _ in range(int(n_boards)):
        model, n_samples, n_channels, n_events, adc_max, sampling = (
            int(v) for v in reader.take(6))
        offsets = (reader.take(n_channels).astype(np.float64) - 32768.0) / 65536.0
        tags = reader.take(n_events)
        tags_2 = reader.take(n_events) if versioned else None
        cells = reader.take(n_events) if model == V1742 else None
        size = n_events * n_channels * n_samples
        if sample_cursor + size > samples.size:
            raise PmtBankError(
                f"DIG0 holds {samples.size} samples, board {model} needs {sample_cursor + size}")
        waveforms = samples[sample_cursor:sample_cursor + size].reshape(
            n_events, n_channels, n_samples)
        sample_cursor += size
        boards.append(BoardData(model, waveforms, tags, cells, offsets, adc_max, sampling, tags_2))
    if reader.cursor != header.size:
        raise PmtBankError(f"DGH0 has {header.size - reader.cursor} words after the last board")
    if sample_cursor != samples.size:
        raise PmtBankError(f"DIG0 has {samples.size - sample_cursor} samples after the last board")
    return boards


def _integer_bank(name: str, bank: Any) -> np.ndarray:
    """The bank's data, refused unless integers: a bank of another MIDAS type (text,
    floats) is a malformed bank, never numbers to reinterpret."""
    data = np.asarray(getattr(bank, "data", bank))
    if data.dtype.kind not in "ui":
        raise PmtBankError(f"{name} holds {data.dtype} data, not integers (wrong bank type)")
    return data


class _Words:
    """Sequential reader over the header words with a clear error at the end."""

    def __init__(self, words: np.ndarray, cursor: int) -> None:
        self.words, self.cursor = words, cursor

    def take(self, count: int) -> np.ndarray:
        end = self.cursor + int(count)
        if end > self.words.size:
            raise PmtBankError(f"DGH0 ends after {self.words.size} words, expected {end}")
        part = self.words[self.cursor:end]
        self.cursor = end
        return part


# -- DRS4 calibration ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Drs4Tables:
    """DRS4 offsets of a V1742: per-cell (`cell`) and per-sample (`nsample`), (8, 1024)."""

    cell: np.ndarray
    nsample: np.ndarray
    source: str = "built-in"

    def offsets(self, start_cell: int, n_channels: int = DRS4_TABLE_CHANNELS) -> np.ndarray:
        """(n_channels, 1024) offsets added to the raw samples of an event (0 beyond 8)."""
        out = np.zeros((n_channels, DRS4_CELLS), dtype=np.float64)
        n = min(n_channels, self.cell.shape[0])
        cells = (np.arange(DRS4_CELLS) + int(start_cell)) % DRS4_CELLS
        out[:n] = self.cell[:n][:, cells] + self.nsample[:n]
        return out


def builtin_drs4_tables(seed: int = 1742) -> Drs4Tables:
    """Small made-up tables (cell σ≈30 counts, nsample σ≈1.4) for when no calibration exists."""
    rng = np.random.default_rng(seed)
    cell = np.rint(rng.normal(0.0, 30.0, (DRS4_TABLE_CHANNELS, DRS4_CELLS)))
    nsample = rng.normal(0.0, 1.4, (DRS4_TABLE_CHANNELS, DRS4_CELLS))
    nsample[:, 0] -= 5.0  # the real tables show a dip in the first sample
    return Drs4Tables(cell.astype(np.int64), nsample, "built-in")


def load_drs4_tables(directory: str | Path | None = None, site: str = "LNGS") -> Drs4Tables:
    """Tables from `table_cell_<site>.npy` and `table_nsample_<site>.npy` in `directory`.

    None, or a directory without them, gives `builtin_drs4_tables()`.
    """
    if directory is None:
        return builtin_drs4_tables()
    directory = Path(directory)
    cell_path = directory / f"table_cell_{site}.npy"
    nsample_path = directory / f"table_nsample_{site}.npy"
    if not (cell_path.is_file() and nsample_path.is_file()):
        return builtin_drs4_tables()
    try:
        cell, nsample = np.load(cell_path), np.load(nsample_path)
    except (OSError, ValueError) as exc:
        raise CygnoError(f"DRS4 tables in {directory} are not readable: {exc}") from None
    if cell.shape != nsample.shape or cell.ndim != 2 or cell.shape[1] != DRS4_CELLS:
        raise CygnoError(f"DRS4 tables in {directory}: shapes {cell.shape}, {nsample.shape}")
    return Drs4Tables(cell, nsample.astype(np.float64), str(directory))
