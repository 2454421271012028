"""Hostile capture files: cut-short, damaged and extra pcap/pcapng blocks never give a traceback.

A damaged block at the end of a pcapng file (issue 11, item 13) used to raise struct.error out of
`traffic analyze` (exit 1, which the contract reads as "anomalies found"). Like `tshark -r`, the packets
before the damage are analysed, one warning line names the file and byte, and the exit status is 2.
The hypothesis runs are bounded (a few hundred examples, seconds of CI time).
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from traffic_frames import tcp, udp, write_pcap

from govwatch.agents.traffic import rules as traffic_rules
from govwatch.agents.traffic.analyze import analyze
from govwatch.agents.traffic.pcapfile import CaptureError, open_capture
from govwatch.cli import main

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def block(btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def pcapng(frames: list[bytes]) -> bytes:
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = block(1, struct.pack("<HHI", 1, 0, 65535))
    epbs = b"".join(block(6, struct.pack("<IIIII", 0, 0, 1_000_000 + n, len(f), len(f)) + f)
                    for n, f in enumerate(frames))
    return shb + idb + epbs


FRAMES = [tcp("192.0.2.9", "10.9.0.1", 40000 + n, 80, "S") for n in range(5)] + [udp("10.9.0.1", "10.9.0.53", 5353, 53)]


def run_cli(path: str, capsys) -> tuple[int, str, str]:
    code = main(["traffic", "analyze", path])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("tail", [struct.pack("<II", 6, 12), struct.pack("<III", 6, 12, 12),
                                  block(6, b"\x00" * 20)[:30], b"\x00" * 5, block(6, b"\x00" * 4)])
def test_damaged_last_pcapng_block_is_one_warning_and_exit_2(tmp_path, capsys, tail: bytes) -> None:
    path = tmp_path / "damaged.pcapng"
    path.write_bytes(pcapng(FRAMES) + tail)
    code, out, err = run_cli(str(path), capsys)
    assert code == 2
    assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err
    assert '"packets": 6' in out.splitlines()[-1]   # everything before the damage was analysed


def test_intact_pcapng_has_no_warning(tmp_path, capsys) -> None:
    path = tmp_path / "ok.pcapng"
    path.write_bytes(pcapng(FRAMES))
    code, out, err = run_cli(str(path), capsys)
    assert code == 0 and err == "" and '"packets": 6' in out


def test_classic_pcap_cut_short_warns_like_tshark(tmp_path, capsys) -> None:
    path = tmp_path / "cut.pcap"
    write_pcap(path, [(1.0 + n, f) for n, f in enumerate(FRAMES)])
    path.write_bytes(path.read_bytes()[:-10])
    code, out, err = run_cli(str(path), capsys)
    assert code == 2 and "cut short" in err and err.count("\n") == 1 and '"packets": 5' in out


def read_all(path: str) -> int:
    """Every record of the file, or CaptureError; anything else escaping is the bug hypothesis looks for."""
    count = 0
    try:
        with open_capture(path) as capture:
            for _ts, _link, frame in capture.records():
                assert isinstance(frame, bytes)
                count += 1
    except CaptureError as exc:
        assert path in str(exc)
    return count


@FUZZ
@given(cut=st.integers(min_value=0, max_value=2000), flips=st.lists(
    st.tuples(st.integers(min_value=0, max_value=2000), st.integers(min_value=0, max_value=255)), max_size=6),
    extra=st.binary(max_size=64))
def test_fuzzed_pcapng_never_escapes(tmp_path, cut: int, flips: list[tuple[int, int]], extra: bytes) -> None:
    data = bytearray(pcapng(FRAMES))
    for at, value in flips:
        if at < len(data):
            data[at] = value
    data = data[:max(cut, 24)] + extra
    path = tmp_path / "fuzz.pcapng"
    path.write_bytes(bytes(data))
    read_all(str(path))


@FUZZ
@given(cut=st.integers(min_value=24, max_value=800), flips=st.lists(
    st.tuples(st.integers(min_value=24, max_value=800), st.integers(min_value=0, max_value=255)), max_size=6),
    extra=st.binary(max_size=64))
def test_fuzzed_classic_pcap_through_the_analyzer(tmp_path, cut: int, flips: list[tuple[int, int]],
                                                  extra: bytes) -> None:
    """The offline fast path reads headers in place: a fuzzed file must not make it read out of bounds."""
    path = tmp_path / "fuzz.pcap"
    write_pcap(path, [(1.0 + n / 10, f) for n, f in enumerate(FRAMES * 4)])
    data = bytearray(path.read_bytes())
    for at, value in flips:
        if at < len(data):
            data[at] = value
    path.write_bytes(bytes(data[:cut]) + extra)
    try:
        summary = analyze(str(path), traffic_rules.defaults(), lambda _a: None)
    except CaptureError as exc:
        assert str(path) in str(exc)
        return
    assert summary.packets >= 0


@FUZZ
@given(frames=st.lists(st.binary(min_size=0, max_size=120), max_size=8))
def test_random_frames_in_pcapng_are_skipped_or_decoded(tmp_path, frames: list[bytes]) -> None:
    path = tmp_path / "frames.pcapng"
    path.write_bytes(pcapng(frames))
    summary = analyze(str(path), traffic_rules.defaults(), lambda _a: None)
    assert summary.warning is None and summary.packets <= len(frames)
