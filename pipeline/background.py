"""Independent jobs on both cores: this process and a forked child take the next job from a shared
counter until none is left, so the two finish together whatever each job costs.

Fork, not spawn: the child starts at once with everything this process has already imported, read
and built, instead of importing pandas, matplotlib and the pipeline again (about a second, as long as
some of the stages' work). A job must not use a DuckDB connection of this process; pandas and pyarrow
may be used (Arrow and its allocator re-create their threads in a forked child). Where fork is not
available, or one process is asked for, this process runs every job itself.
"""
from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
First = TypeVar("First")


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _take(counter) -> int:
    """The index of the next job not taken by either process."""
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    return index


def _take_jobs(job: Callable[[Item], Result], items: Sequence[Item], counter) -> dict[int, Result]:
    done = {}
    while (index := _take(counter)) < len(items):
        done[index] = job(items[index])
    return done


def _child(job, items, counter, send) -> None:
    """The child's side: its jobs' results by index, or the exception one of them raised, pickled."""
    try:
        outcome = (True, _take_jobs(job, items, counter))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
        outcome = (False, exc)
    try:
        payload = pickle.dumps(outcome)
        if not outcome[0]:
            pickle.loads(payload)   # an exception whose arguments do not rebuild it would fail in the parent
    except Exception as exc:  # noqa: BLE001
        payload = pickle.dumps((False, RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]} "
                                                    f"(not passed on as it is: {exc})")))
    send.send_bytes(payload)


def _result(receive, child, name: str):
    """What one child sent: its results by index, or its exception raised here."""
    try:
        ok, value = pickle.loads(receive.recv_bytes())
    except EOFError:
        child.join()
        raise RuntimeError(f"{name}: a worker process ended without a result (exit code {child.exitcode})") from None
    if not ok:
        raise value
    return value


def share(job: Callable[[Item], Result], items: Sequence[Item], *, name: str, processes: int = 2,
          first: Callable[[], First] = lambda: None) -> tuple[First, list[Result]]:
    """`first()` here, then `job` over `items` in this process and `processes` - 1 forked children.

    Return first's result and the jobs' results in the order of `items`. An exception in a job is
    raised here (a child's once this process has done its own share); `name` names the work when a
    child ends without a result.
    """
    if processes < 2 or not can_fork() or not items:
        head = first()
        return head, [job(item) for item in items]
    context = multiprocessing.get_context("fork")
    counter = context.Value("l", 0)
    children = []
    for _ in range(processes - 1):
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_child, args=(job, items, counter, send), name=name, daemon=True)
        child.start()
        send.close()
        children.append((child, receive))
    done, answered = {}, 0
    try:
        head = first()
        done.update(_take_jobs(job, items, counter))
        for child, receive in children:
            answer = _result(receive, child, name)
            answered += 1
            done.update(answer)
    finally:
        for i, (child, receive) in enumerate(children):
            receive.close()
            if i >= answered and child.is_alive():   # this process failed first: the child's work is moot
                child.terminate()
            child.join()
    return head, [done[index] for index in range(len(items))]
