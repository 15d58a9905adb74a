"""Dynamic batching: one scheduler per model, pairs of concurrent requests share batches.

Requests put a :class:`Job` on a bounded queue (full: :class:`QueueFull`, answered 429).
One worker task per model takes the first waiting job, keeps collecting jobs for up to
``batch_wait_ms`` or until ``max_batch_documents`` documents are gathered, and runs them in
one ``Reranker.rerank_many`` call on the model's own thread, so the event loop never
waits on inference and the token-budget batches mix pairs from every request. Jobs whose
caller gave up (deadline, disconnect) before their turn are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rerankit._types import RankedResult


class QueueFull(Exception):
    """The model's queue is full: the caller should retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("the rerank queue is full")
        self.retry_after = retry_after


@dataclass
class Job:
    """One request's scoring work."""

    query: str
    documents: Sequence[Any]
    max_tokens_per_doc: int | None = None
    max_chunks_per_doc: int | None = None
    rank_fields: Sequence[str] | str | None = None
    truncate: bool = False
    future: asyncio.Future[list[RankedResult]] | None = None
    enqueued: float = field(default_factory=time.perf_counter)

    def options(self) -> tuple[Any, ...]:
        """Jobs with equal options can share one ``rerank_many`` call."""
        fields = (tuple(self.rank_fields) if isinstance(self.rank_fields, list)
                  else self.rank_fields)
        return (self.max_tokens_per_doc, self.max_chunks_per_doc, fields, self.truncate)


class ModelScheduler:
    """Queue and batch worker of one served model."""

    def __init__(self, name: str, reranker: Any, *, max_queue: int = 64,
                 batch_wait_ms: float = 2.0, max_batch_documents: int = 512,
                 on_batch: Callable[[str, list[Job], list[list[RankedResult]], float], None]
                 | None = None) -> None:
        self.name, self.reranker = name, reranker
        self.max_queue, self.batch_wait_s = max_queue, batch_wait_ms / 1000
        self.max_batch_documents = max_batch_documents
        self.on_batch = on_batch
        self._queue: asyncio.Queue[Job] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"rerank-{name}")
        self._seconds_per_document = 0.05  # refined from measured batches
        self.in_flight = 0

    @property
    def depth(self) -> int:
        """Jobs waiting (not yet taken by the worker)."""
        return self._queue.qsize() if self._queue is not None else 0

    def start(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.max_queue)
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Finish the jobs already queued, then stop the worker and the model thread."""
        if self._queue is not None and self._worker is not None:
            await self._queue.join()
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._executor.shutdown(wait=True)

    async def submit(self, job: Job) -> list[RankedResult]:
        """Queue ``job`` and wait for its results (raises :class:`QueueFull`)."""
        assert self._queue is not None, "scheduler not started"
        job.future = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            # about how long the queued documents take to score, at the measured rate
            queued = self._queue.qsize() * max(1, len(job.documents))
            raise QueueFull(max(1.0, round(queued * self._seconds_per_document, 1))) from None
        return await job.future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            batch = [first]
            documents = len(first.documents)
            deadline = loop.time() + self.batch_wait_s
            while documents < self.max_batch_documents:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), timeout)
                except TimeoutError:
                    break
                batch.append(job)
                documents += len(job.documents)
            live = [job for job in batch if job.future is not None and not job.future.done()]
            try:
                if live:
                    self.in_flight = len(live)
                    started = time.perf_counter()
                    try:
                        results = await loop.run_in_executor(self._executor, self._score, live)
                    except Exception as exc:
                        for job in live:
                            if not job.future.done():
                                job.future.set_exception(exc)
                    else:
                        elapsed = time.perf_counter() - started
                        count = sum(len(job.documents) for job in live)
                        if count:
                            self._seconds_per_document = 0.8 * self._seconds_per_document \
                                + 0.2 * elapsed / count
                        for job, result in zip(live, results, strict=True):
                            if not job.future.done():
                                job.future.set_result(result)
                        if self.on_batch is not None:
                            self.on_batch(self.name, live, results, elapsed)
            finally:
                self.in_flight = 0
                for _ in batch:
                    self._queue.task_done()

    def _score(self, jobs: list[Job]) -> list[list[RankedResult]]:
        """Runs on the model thread: one ``rerank_many`` per group of equal options."""
        out: list[list[RankedResult] | None] = [None] * len(jobs)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault(job.options(), []).append(i)
        for (max_tokens, max_chunks, _, truncate), members in groups.items():
            reranker = self.reranker
            settings = {"max_tokens_per_doc": max_tokens, "max_chunks_per_doc": max_chunks}
            if truncate:
                settings["max_chunks_per_doc"] = 1
            results = reranker.rerank_many(
                [jobs[i].query for i in members], [jobs[i].documents for i in members],
                rank_fields=jobs[members[0]].rank_fields, **settings,
            )
            for i, result in zip(members, results, strict=True):
                out[i] = result
        return [r if r is not None else [] for r in out]
