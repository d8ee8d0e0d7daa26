"""Jobs shared between this process and a forked child (pipeline/background.py): results in order,
errors raised here with their message, a child that dies named, one process when asked."""
from __future__ import annotations

import os
import time

import pytest

from pipeline import background
from pipeline.errors import RunError

needs_fork = pytest.mark.skipif(not background.can_fork(), reason="no fork on this platform")


def slow_square(item: int) -> tuple[int, int]:
    time.sleep(0.02)   # long enough for the child to take its share
    return item * item, os.getpid()


def test_results_come_back_in_the_order_of_the_items_with_the_first_result():
    head, results = background.share(slow_square, list(range(30)), name="squares", first=lambda: "first")
    assert head == "first"
    assert [square for square, _ in results] == [i * i for i in range(30)]


@needs_fork
def test_both_processes_take_jobs():
    _, results = background.share(slow_square, list(range(30)), name="squares")
    assert {pid for _, pid in results} - {os.getpid()}, "the child took no job"


def test_one_process_when_asked():
    _, results = background.share(slow_square, list(range(5)), name="squares", processes=1)
    assert {pid for _, pid in results} == {os.getpid()}


def test_no_items():
    assert background.share(slow_square, [], name="nothing", first=lambda: 1) == (1, [])


def fail_on_seven(item: int) -> int:
    time.sleep(0.01)
    if item == 7:
        raise ValueError(f"item {item} is bad")
    return item


def test_an_error_in_a_job_is_raised_here_with_its_message():
    with pytest.raises(ValueError, match="item 7 is bad"):
        background.share(fail_on_seven, list(range(20)), name="items")


def refuse_in_child(parent: int):
    def job(item: int) -> int:
        time.sleep(0.02)
        if os.getpid() != parent:
            raise RunError("malformed_file", f"table {item} is broken")
        return item
    return job


@needs_fork
def test_a_run_error_keeps_its_kind_and_message_across_the_processes():
    with pytest.raises(RunError, match="is broken") as caught:
        background.share(refuse_in_child(os.getpid()), list(range(20)), name="tables")
    assert caught.value.kind == "malformed_file" and caught.value.exit_code == 20


class Unpicklable(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a} and {b}")


def unpicklable_in_child(parent: int):
    def job(item: int) -> int:
        time.sleep(0.02)
        if os.getpid() != parent:
            raise Unpicklable(item, "more")
        return item
    return job


@needs_fork
def test_an_error_that_cannot_be_pickled_still_says_what_it_was():
    with pytest.raises(RuntimeError, match="Unpicklable: .* and more"):
        background.share(unpicklable_in_child(os.getpid()), list(range(20)), name="odd")


def die_in_child(parent: int):
    def job(item: int) -> int:
        time.sleep(0.02)
        if os.getpid() != parent:
            os._exit(3)
        return item
    return job


@needs_fork
def test_a_child_that_dies_is_named():
    with pytest.raises(RuntimeError, match="cards: a worker process ended without a result"):
        background.share(die_in_child(os.getpid()), list(range(20)), name="cards")


def test_an_error_in_first_ends_the_child():
    def first():
        raise KeyError("first failed")
    with pytest.raises(KeyError, match="first failed"):
        background.share(slow_square, list(range(200)), name="squares", first=first)
