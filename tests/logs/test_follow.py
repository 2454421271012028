"""Rotation and restart: every line is read exactly once across rename, copytruncate and gzip rotation,
and across restarts with a saved position (including rotations that happen while stopped)."""

from __future__ import annotations

import gzip
import os
import shutil

import pytest

from govwatch.agents.logs.follow import FileFollower


class Reader:
    """A follower whose lines land in a list; `restart()` is a stop/start with the saved position."""

    def __init__(self, path: str, from_start: bool = False, max_line: int = 4096) -> None:
        self.path, self.lines, self.long = path, [], []
        self.max_line = max_line
        self.follower = self._make(None, from_start)

    def _make(self, saved, from_start: bool = False) -> FileFollower:
        follower = FileFollower(self.path, self.lines.append, self.long.append, self.max_line, saved, from_start)
        follower.open()
        return follower

    def poll(self) -> None:
        self.follower.poll()

    def restart(self, between=None) -> None:
        saved = self.follower.position()
        self.follower.close()
        if between:
            between()
        self.follower = self._make(saved)


def write(path, start: int, count: int) -> None:
    with open(path, "a") as handle:
        for i in range(start, start + count):
            handle.write(f"line {i}\n")


def expected(*ranges: tuple[int, int]) -> list[str]:
    return [f"line {i}" for start, end in ranges for i in range(start, end)]


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "access.log"
    write(path, 0, 100)
    return path


def test_starts_at_the_end_unless_told(log) -> None:
    reader = Reader(str(log))
    write(log, 100, 5)
    reader.poll()
    assert reader.lines == expected((100, 105))
    assert Reader(str(log), from_start=True).follower and True
    other = Reader(str(log), from_start=True)
    other.poll()
    assert other.lines == expected((0, 105))


def test_rename_rotation_while_running_loses_nothing(log) -> None:
    reader = Reader(str(log))
    write(log, 100, 10)
    reader.poll()
    write(log, 110, 10)                       # written after our last read, before the rotation
    os.rename(log, f"{log}.1")
    write(log, 120, 10)                       # the new file
    reader.poll()
    write(log, 130, 5)
    reader.poll()
    assert reader.lines == expected((100, 135))
    assert reader.follower.rotations == 1


def test_rename_then_gzip_without_delaycompress_while_running(log) -> None:
    reader = Reader(str(log))
    write(log, 100, 10)
    os.rename(log, f"{log}.1")                # the open descriptor still reads the renamed file
    with open(f"{log}.1", "rb") as src, gzip.open(f"{log}.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(f"{log}.1")
    write(log, 110, 3)
    reader.poll()
    assert reader.lines == expected((100, 113))


def test_copytruncate_while_running_reads_the_tail_from_the_copy(log) -> None:
    reader = Reader(str(log))
    write(log, 100, 10)
    reader.poll()
    write(log, 110, 7)                        # lands in the copy only
    shutil.copyfile(log, f"{log}.1")
    with open(log, "r+") as handle:
        handle.truncate(0)
    write(log, 117, 3)
    reader.poll()
    write(log, 120, 200)                      # grows past the old offset: still no line read twice
    reader.poll()
    assert reader.lines == expected((100, 320))
    assert reader.follower.truncations == 1


def test_truncated_and_refilled_past_the_offset_is_noticed_by_its_head(tmp_path) -> None:
    path = tmp_path / "access.log"
    write(path, 0, 3)
    reader = Reader(str(path), from_start=True)
    reader.poll()
    with open(path, "w") as handle:            # truncated and rewritten longer between two polls
        handle.write("".join(f"new {i}\n" for i in range(50)))
    reader.poll()
    assert reader.lines == expected((0, 3)) + [f"new {i}" for i in range(50)]


def test_restart_resumes_exactly(log) -> None:
    reader = Reader(str(log))
    write(log, 100, 10)
    reader.poll()
    reader.restart(between=lambda: write(log, 110, 10))   # written while the agent is down
    reader.poll()
    assert reader.lines == expected((100, 120))


def test_partial_last_line_is_not_lost_nor_doubled_across_a_restart(log) -> None:
    reader = Reader(str(log))
    with open(log, "a") as handle:
        handle.write("line 100\nline 1")
    reader.poll()
    reader.restart(between=lambda: open(log, "a").write("01\n"))
    reader.poll()
    assert reader.lines == expected((100, 102))


@pytest.mark.parametrize("compress", [False, True])
def test_rotation_while_stopped_reads_the_rest_from_the_rotated_copy(log, compress) -> None:
    reader = Reader(str(log))
    write(log, 100, 10)
    reader.poll()

    def rotate() -> None:
        write(log, 110, 5)
        os.rename(log, f"{log}.1")
        if compress:
            with open(f"{log}.1", "rb") as src, gzip.open(f"{log}.1.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.unlink(f"{log}.1")
        write(log, 115, 5)

    reader.restart(between=rotate)
    reader.poll()
    assert reader.lines == expected((100, 120))


def test_copytruncate_while_stopped(log) -> None:
    reader = Reader(str(log))
    write(log, 100, 10)
    reader.poll()

    def copytruncate() -> None:
        write(log, 110, 5)
        shutil.copyfile(log, f"{log}.1")
        with open(log, "r+") as handle:
            handle.truncate(0)
        write(log, 115, 500)                   # longer than before: size alone would not tell

    reader.restart(between=copytruncate)
    reader.poll()
    assert reader.lines == expected((100, 615))


def test_file_missing_at_start_is_read_from_its_start_when_it_appears(tmp_path) -> None:
    path = tmp_path / "later.log"
    reader = Reader(str(path))
    reader.poll()
    write(path, 0, 3)
    reader.poll()
    assert reader.lines == expected((0, 3))


def test_overlong_line_is_cut_counted_and_skipped(tmp_path) -> None:
    path = tmp_path / "access.log"
    path.write_text("")
    reader = Reader(str(path), max_line=1024)
    with open(path, "a") as handle:
        handle.write("line 0\n" + "A" * 5000)
    reader.poll()
    with open(path, "a") as handle:
        handle.write("B" * 5000 + "\nline 1\n")
    reader.poll()
    assert reader.lines == ["line 0", "line 1"]
    assert len(reader.long) == 1 and reader.long[0].startswith("AAAA") and len(reader.long[0]) <= 200
