"""Atomic export writes: the old file survives a failure, no temp file is left, mode 0600."""

from __future__ import annotations

import os
import stat

import pytest

from scanner.outfile import write_atomic


def test_writes_complete_file_with_owner_only_mode(tmp_path):
    target = tmp_path / "out.csv"
    write_atomic(target, lambda stream: stream.write(b"a,b\n"))
    assert target.read_bytes() == b"a,b\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["out.csv"]


def test_failure_keeps_old_file_and_removes_temp(tmp_path):
    target = tmp_path / "out.csv"
    target.write_bytes(b"old export\n")

    def half_then_fail(stream):
        stream.write(b"partial")
        raise RuntimeError("row 3 broke")

    with pytest.raises(RuntimeError, match="row 3 broke"):
        write_atomic(target, half_then_fail)
    assert target.read_bytes() == b"old export\n"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_failure_without_old_file_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "new.xlsx", lambda stream: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert os.listdir(tmp_path) == []


def test_replaces_existing_file_and_tightens_its_mode(tmp_path):
    target = tmp_path / "report.html"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_atomic(target, lambda stream: stream.write(b"new"))
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
