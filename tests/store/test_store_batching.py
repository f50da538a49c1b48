"""Probe results reach the store in batches, and every caller learns whether its own rows were recorded."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from monitor.core.observation import Observation
from monitor.store.batching import BatchWriter
from monitor.store.sqlite import SqliteStore


def obs(i: int) -> list[Observation]:
    return [Observation("http_up", 1.0, 1000.0 + i, {"target": f"t{i}"})]


class SlowStore(SqliteStore):
    """A real SQLite store whose writes can be held (to pile up callers) or made to fail once."""

    def __init__(self, path: str) -> None:
        super().__init__(path, retention=86400)
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()  # a write is on the writer thread (held while the gate is closed)
        self.fail_next = False
        self.calls: list[int] = []

    def write(self, observations: Sequence[Observation]) -> None:
        self.entered.set()
        self.gate.wait(5)
        self.calls.append(len(observations))
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full")
        super().write(observations)


async def held_write(store: SlowStore, writer: BatchWriter, observations: list[Observation]) -> asyncio.Task[None]:
    """A write that is on the writer thread, held there until `store.gate` opens."""
    store.gate.clear()
    task = asyncio.create_task(writer.write(observations))
    await asyncio.to_thread(store.entered.wait, 5)
    return task


@pytest.fixture
def store(tmp_path: Path) -> SlowStore:
    return SlowStore(str(tmp_path / "s.sqlite3"))


async def test_writes_arriving_during_a_write_go_in_one_batch(store: SlowStore) -> None:
    with ThreadPoolExecutor(1) as pool:
        writer = BatchWriter(store, pool)
        first = await held_write(store, writer, obs(0))
        rest = [asyncio.create_task(writer.write(obs(i))) for i in range(1, 51)]
        await asyncio.sleep(0.05)
        assert not any(t.done() for t in [first, *rest])  # nobody is told "recorded" before it is
        store.gate.set()
        await asyncio.gather(first, *rest)
    assert store.calls == [1, 50] and writer.batches == 2
    assert {o.labels["target"] for o in store.latest()} == {f"t{i}" for i in range(51)}


async def test_a_failed_batch_fails_its_callers_and_the_next_batch_is_written(store: SlowStore) -> None:
    with ThreadPoolExecutor(1) as pool:
        writer = BatchWriter(store, pool)
        store.fail_next = True
        with pytest.raises(OSError, match="disk full"):
            await writer.write(obs(1))
        await writer.write(obs(2))
    assert [o.labels["target"] for o in store.latest()] == ["t2"]


async def test_a_cancelled_caller_still_has_its_rows_written(store: SlowStore) -> None:
    with ThreadPoolExecutor(1) as pool:
        writer = BatchWriter(store, pool)
        task = await held_write(store, writer, obs(7))
        task.cancel()
        store.gate.set()
        await writer.drain()
    assert [o.labels["target"] for o in store.latest()] == ["t7"]


async def test_a_writer_stopped_mid_batch_leaves_no_caller_waiting_for_ever(store: SlowStore) -> None:
    with ThreadPoolExecutor(1) as pool:
        writer = BatchWriter(store, pool)
        first = await held_write(store, writer, obs(1))
        second = asyncio.create_task(writer.write(obs(2)))  # waits for the next batch
        await asyncio.sleep(0)
        assert writer._flusher is not None
        writer._flusher.cancel()  # as when the event loop shuts down under it
        done, pending = await asyncio.wait([first, second], timeout=2)
        store.gate.set()
    assert not pending
    assert all(isinstance(t.exception(), RuntimeError) for t in done)
