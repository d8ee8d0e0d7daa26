"""The manifest's hashes: two files at a time in the order asked, an input hashed again when it changes."""
from __future__ import annotations

import hashlib
import os

from pipeline import manifest


def test_hashes_of_many_files_in_the_order_given(tmp_path):
    paths = []
    for i, size in enumerate([10, 5_000_000, 0, 300_000, 7]):
        path = tmp_path / f"f{i}"
        path.write_bytes(bytes([i]) * size)
        paths.append(path)
    assert manifest.sha256_many(paths) == [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    assert manifest.sha256_many([]) == []


def test_an_input_is_hashed_again_when_it_changes(tmp_path):
    path = tmp_path / "personer.parquet"
    path.write_bytes(b"a" * 1000)
    first = manifest.remembered_sha256(path)
    assert manifest.remembered_sha256(path) == first == hashlib.sha256(b"a" * 1000).hexdigest()
    path.write_bytes(b"b" * 1000)   # same size, same inode
    os.utime(path, ns=(1, 1))       # even with an old modification time: the change time moves
    assert manifest.remembered_sha256(path) == hashlib.sha256(b"b" * 1000).hexdigest()
    replaced = tmp_path / "new"
    replaced.write_bytes(b"c" * 1000)
    os.replace(replaced, path)      # another inode
    assert manifest.remembered_sha256(path) == hashlib.sha256(b"c" * 1000).hexdigest()
