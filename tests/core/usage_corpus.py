"""The usage corpus: concurrent callers (threads and coroutines), good and bad, alone and sharing batches, and
what their usage must be (see ``test_usage.py::test_usage_corpus``).

Every case checks the same promises: the model's ``usage`` is what the engine ran (the batch hook's rows and
real tokens: a call that raised before a forward pass adds nothing, a shared attempt that failed counts the
passes it made), and each caller's ``last_usage``, read right after its call in its own thread or task, is that
call's usage, so the callers' last calls add up to the total.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qwen3_vl_rag.core.usage import Usage

from ..conftest import random_image

# How a call fails: None (it returns), "validation" (refused up front: never queued), "prepare" (an image whose
# header is valid but whose pixels are cut, found when its batch is prepared).
VALIDATION, PREPARE = "validation", "prepare"


@dataclass(frozen=True)
class Call:
    items: Any  # a function of the samples folder returning the call's items (or pairs, for the reranker)
    fails: str | None = None
    bad_index: int | None = None  # the InputError's index (None: another error, e.g. dimensions)
    via: str = "thread"  # "thread": the sync call on its own thread; "task": ``await`` the async twin
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    calls: tuple[Call, ...]
    model: str = "embedder"  # or "reranker" (plain batches: the shared-prefix path is off)
    shared: bool = False  # hold the model until every caller waits, so they share batches
    rows: int = 64  # max_batch_size: 2 gives several batches, and failures mid-run


def _truncated(folder: Path, name: str = "cut.png") -> str:
    """A PNG whose header is valid and whose pixels are cut: passes validation, fails at batch preparation."""
    buffer = io.BytesIO()
    random_image(0, size=(64, 64)).save(buffer, format="PNG")
    path = folder / name
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 3])
    return str(path)


def _image(folder: Path, seed: int) -> str:
    path = folder / f"ok{seed}.png"
    if not path.exists():
        random_image(seed, size=(64, 48)).save(path)
    return str(path)


def texts(caller: int, n: int = 3):
    return lambda f: [f"caller {caller} item {i} " + "word " * (caller + 2 * i) for i in range(n)]


def images(n: int, bad: int | None = None):
    return lambda f: [{"image": _truncated(f) if i == bad else _image(f, i)} for i in range(n)]


def with_bad(caller: int, bad: Any, at: int = 1, n: int = 3):
    def make(f):
        items = texts(caller, n)(f)
        items[at] = bad(f) if callable(bad) else bad
        return items
    return make


def pairs(caller: int, n: int = 3, bad: Any = None, at: int = 1):
    def make(f):
        docs = [f"document {caller}.{i} " + "text " * i for i in range(n)]
        if bad is not None:
            docs[at] = bad(f)
        return [(f"query {caller}", d) for d in docs]
    return make


MISSING = lambda f: {"image": str(f / "missing.png")}  # noqa: E731 - refused at validation
CUT = lambda f: {"image": _truncated(f)}  # noqa: E731 - found at batch preparation
SURROGATE = "bad \ud800 text"

good = [Call(texts(c)) for c in range(8)]
tasks = [Call(texts(c), via="task") for c in range(8)]

CASES = [
    # -- one caller ---------------------------------------------------------------------------------
    Case("alone-good", "one caller", (good[0],)),
    Case("alone-empty", "one caller", (Call(lambda f: []),)),
    Case("alone-missing-file", "one caller", (Call(with_bad(0, MISSING), VALIDATION, 1),)),
    Case("alone-surrogate", "one caller", (Call(with_bad(0, SURROGATE, at=2), VALIDATION, 2),)),
    Case("alone-bad-dimensions", "one caller", (Call(texts(0), VALIDATION, kwargs={"dimensions": 65}),)),
    Case("alone-cut-first-batch", "one caller", (Call(with_bad(0, CUT), PREPARE, 1),)),
    Case("alone-cut-mid-run", "one caller", (Call(images(5, bad=4), PREPARE, 4),), rows=2),
    Case("task-good", "one coroutine", (tasks[0],)),
    Case("task-missing-file", "one coroutine", (Call(with_bad(0, MISSING), VALIDATION, 1, via="task"),)),
    Case("task-cut-mid-run", "one coroutine", (Call(images(5, bad=4), PREPARE, 4, via="task"),), rows=2),
    # -- callers sharing batches --------------------------------------------------------------------
    Case("shared-4-good", "shared batches", tuple(good[:4]), shared=True),
    Case("shared-7-good-1-cut", "shared batches", (*good[:7], Call(with_bad(7, CUT), PREPARE, 1)), shared=True),
    Case("shared-3-good-1-refused", "shared batches", (*good[:3], Call(with_bad(3, MISSING), VALIDATION, 1)),
         shared=True),
    Case("shared-small-batches-1-cut", "shared batches",
         (*good[:3], Call(with_bad(3, CUT, at=4, n=6), PREPARE, 4)), shared=True, rows=2),
    Case("shared-all-cut", "shared batches", tuple(Call(with_bad(c, CUT, at=c % 3), PREPARE, c % 3)
                                                   for c in range(3)), shared=True),
    Case("shared-images-1-cut", "shared batches", (Call(images(2)), Call(images(3, bad=2), PREPARE, 2),
                                                   Call(images(1))), shared=True, rows=2),
    # -- threads and coroutines together ----------------------------------------------------------------
    Case("mixed-good", "threads and coroutines", (good[0], good[1], tasks[2], tasks[3]), shared=True),
    Case("mixed-1-cut-task", "threads and coroutines",
         (good[0], tasks[1], tasks[2], Call(with_bad(3, CUT), PREPARE, 1, via="task")), shared=True),
    Case("tasks-1-refused-1-cut", "threads and coroutines",
         (tasks[0], tasks[1], Call(with_bad(2, SURROGATE), VALIDATION, 1, via="task"),
          Call(with_bad(3, CUT, at=0), PREPARE, 0, via="task")), shared=True),
    # -- the reranker (plain batches) -------------------------------------------------------------------
    Case("rerank-alone-good", "reranker", (Call(pairs(0)),), model="reranker"),
    Case("rerank-alone-cut", "reranker", (Call(pairs(0, bad=CUT), PREPARE, 1),), model="reranker"),
    Case("rerank-shared-1-cut", "reranker",
         (Call(pairs(0)), Call(pairs(1), via="task"), Call(pairs(2, bad=CUT), PREPARE, 1)), model="reranker",
         shared=True),
    Case("rerank-shared-1-refused", "reranker",
         (Call(pairs(0)), Call(pairs(1, bad=MISSING), VALIDATION, 1, via="task")), model="reranker", shared=True),
]


@dataclass
class Outcome:
    value: Any  # the vectors / scores, or the exception
    last: Usage


def run_case(case: Case, model: Any, folder: Path) -> tuple[list[Any], list[Outcome], Outcome | None, list[Any]]:
    """Run the case's calls concurrently: (each call's items, its outcome, the blocker's outcome or None, the
    batch stats of every forward pass)."""
    seen: list[Any] = []
    started, release = threading.Event(), threading.Event()

    def hook(stats: Any) -> None:
        seen.append(stats)
        if case.shared and not started.is_set():  # the blocker holds the model until every caller waits
            started.set()
            release.wait(20)

    sync = model.embed if case.model == "embedder" else model.score_pairs
    asynchronous = model.aembed if case.model == "embedder" else model.ascore_pairs
    made = [call.items(folder) for call in case.calls]
    outcomes: dict[int, Outcome] = {}
    blocker_outcome: list[Outcome] = []

    def run_sync(position: int) -> None:
        try:
            value = sync(made[position], **case.calls[position].kwargs)
        except Exception as exc:  # noqa: BLE001 - the outcome is checked by the test
            value = exc
        outcomes[position] = Outcome(value, model.last_usage)

    async def run_async(position: int) -> None:
        try:
            value = await asynchronous(made[position], **case.calls[position].kwargs)
        except Exception as exc:  # noqa: BLE001
            value = exc
        outcomes[position] = Outcome(value, model.last_usage)

    async def run_tasks(positions: list[int]) -> None:
        await asyncio.gather(*(run_async(p) for p in positions))

    def blocker() -> None:
        value = sync([("q", "the blocker")] if case.model == "reranker" else ["the blocker"])
        blocker_outcome.append(Outcome(value, model.last_usage))

    remove = model.on_batch(hook)
    try:
        threads = []
        if case.shared:
            threads.append(threading.Thread(target=blocker))
            threads[0].start()
            assert started.wait(20)
        on_tasks = [p for p, call in enumerate(case.calls) if call.via == "task"]
        threads += [threading.Thread(target=run_sync, args=(p,)) for p, call in enumerate(case.calls)
                    if call.via == "thread"]
        if on_tasks:
            threads.append(threading.Thread(target=asyncio.run, args=(run_tasks(on_tasks),)))
        for t in threads[1 if case.shared else 0:]:
            t.start()
        if case.shared:
            queued = sum(call.fails != VALIDATION for call in case.calls)
            deadline = time.time() + 20
            while model.runner.waiting_calls < queued and time.time() < deadline:
                time.sleep(0.005)
            release.set()
        for t in threads:
            t.join(60)
    finally:
        release.set()
        remove()
    return made, [outcomes[p] for p in range(len(case.calls))], (blocker_outcome[0] if case.shared else None), seen
