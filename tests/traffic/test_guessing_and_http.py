"""Distributed password guessing, pollers that are not guessers, and HTTP floods judged against the
site's own rates: from raw frames with an injected clock."""

from __future__ import annotations

import random

from benign_periodic import POLLER
from benign_traffic import T0, connection, get
from traffic_frames import SERVER, Feeder, tcp


def guess(out: list, t: float, client: str, sport: int, rng: random.Random) -> None:
    """One SSH guessing connection: version, key exchange, a few passwords of varying length."""
    connection(out, t, client, sport, 22, [b"SSH-2.0-libssh_0.9\r\n", b"k" * 1500] +
               [b"p" * rng.randrange(80, 200) for _ in range(3)], gap=0.3, reply=lambda _r: [b"s" * 700])


def run(frames: list) -> Feeder:
    feeder = Feeder()
    for ts, frame in sorted(frames, key=lambda f: f[0]):
        feeder.feed(ts, frame)
    feeder.finish()
    return feeder


def started(feeder: Feeder, kind: str) -> list:
    return [a for s, a in feeder.events if s == "start" and a.kind == kind]


def test_many_sources_few_guesses_each_is_one_distributed_brute_force() -> None:
    rng, frames = random.Random(3), []
    bots = [f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            for _ in range(45)]
    for n, bot in enumerate(bots):
        for k in range(3):   # three tries each, minutes apart: far below any per-source threshold
            guess(frames, T0 + n * 2.5 + k * 60 + rng.uniform(0, 5), bot, 40000 + n * 3 + k, rng)
    feeder = run(frames)
    found = started(feeder, "brute_force")
    assert len(found) == 1, [a.evidence for a in found]
    ev = found[0].evidence
    assert found[0].src == "many" and ev["distributed"] is True and ev["service"] == "ssh"
    ended = [a for s, a in feeder.events if s == "end" and a.kind == "brute_force"][0].evidence
    assert ended["sources"] >= 40 and len(ended["top_sources"]) == 5 and ended["attempts"] >= 120


def test_a_few_users_failing_once_is_not_distributed_guessing() -> None:
    rng, frames = random.Random(4), []
    for n in range(8):
        guess(frames, T0 + n * 20, f"192.0.2.{n + 1}", 40000 + n, rng)
    assert started(run(frames), "brute_force") == []


def test_ssh_guesser_keeping_time_is_still_a_guesser() -> None:
    """Only a small exchange (less than a key exchange) can pass as a poller: a guesser that connects
    like clockwork still sends a key exchange and passwords each time."""
    rng, frames = random.Random(5), []
    for n in range(30):
        guess(frames, T0 + n * 2.0, POLLER, 30000 + n, rng)
    found = started(run(frames), "brute_force")
    assert len(found) == 1 and found[0].src == POLLER and found[0].evidence["distributed"] is False


def page_loads(frames: list, start: float, seconds: int, per_second: float, rng: random.Random) -> None:
    t = start
    while t < start + seconds:
        client = f"192.0.2.{rng.randrange(1, 250)}"
        connection(frames, t, client, rng.randrange(20000, 60000), 80,
                   [get(f"/news/{rng.randrange(900)}") for _ in range(rng.randint(1, 3))], gap=0.4)
        t += rng.expovariate(per_second)


def test_one_client_at_40_requests_per_second_on_a_quiet_site_is_an_http_flood() -> None:
    rng, frames = random.Random(6), []
    page_loads(frames, T0, 200, 2.5, rng)   # ~5 requests/s for the whole site
    for n in range(40 * 60):                # then one client at 40 requests/s for a minute
        t = T0 + 120 + n / 40
        connection(frames, t, "203.0.113.66", 10000 + n % 50000, 80, [get("/search?q=x")], gap=0.01)
    found = started(run(frames), "http_flood")
    assert [a.src for a in found] == ["203.0.113.66"]
    assert found[0].evidence["requests_per_s"] >= 30


def test_the_same_rate_on_an_unlearned_capture_start_is_not_judged_per_source_yet() -> None:
    """40 requests/s from the first second: until the site's rates are learned only the high floor
    applies (a capture can start while an office NAT gateway is busy)."""
    rng, frames = random.Random(7), []
    page_loads(frames, T0, 40, 2.5, rng)
    for n in range(40 * 40):
        connection(frames, T0 + n / 40, "203.0.113.67", 10000 + n, 80, [get("/docs/1")], gap=0.01)
    assert started(run(frames), "http_flood") == []


def test_capture_ending_with_many_open_ssh_sessions_is_not_distributed_guessing() -> None:
    """A busy server's capture cut while 60 people's interactive SSH sessions are open (each only a few
    kB so far): sessions cut by the end of the capture are not a guessing campaign."""
    rng, frames = random.Random(8), []
    for n in range(60):
        client, sport, t = f"198.18.{n // 200}.{n % 200 + 1}", 40000 + n, 1_700_031_600.0 + n
        frames += [(t, tcp(client, SERVER, sport, 22, "S")), (t + 0.01, tcp(SERVER, client, 22, sport, "SA")),
                   (t + 0.02, tcp(client, SERVER, sport, 22, "A"))]
        for k in range(40):
            ts = t + 0.1 + k * rng.uniform(0.1, 0.5)
            frames += [(ts, tcp(client, SERVER, sport, 22, "PA", b"k" * 36)),
                       (ts + 0.02, tcp(SERVER, client, 22, sport, "PA", b"o" * 200))]
    assert started(run(frames), "brute_force") == []


def test_many_people_closing_short_interactive_ssh_sessions_are_not_guessing() -> None:
    """Sixty short interactive sessions from sixty addresses, each only a few kB but hundreds of
    keystrokes: sessions, not guesses (a guess is a key exchange and a few passwords)."""
    rng, frames = random.Random(9), []
    for n in range(60):
        client, sport, t = f"198.18.1.{n + 1}", 41000 + n, 1_700_031_600.0 + n * 2
        frames += [(t, tcp(client, SERVER, sport, 22, "S")), (t + 0.01, tcp(SERVER, client, 22, sport, "SA")),
                   (t + 0.02, tcp(client, SERVER, sport, 22, "A"))]
        ts = t
        for _ in range(100):
            ts += rng.uniform(0.05, 0.3)
            frames += [(ts, tcp(client, SERVER, sport, 22, "PA", b"k" * 36)),
                       (ts + 0.02, tcp(SERVER, client, 22, sport, "PA", b"o" * 100))]
        frames += [(ts + 0.5, tcp(client, SERVER, sport, 22, "FA")), (ts + 0.52, tcp(SERVER, client, 22, sport, "FA")),
                   (ts + 0.54, tcp(client, SERVER, sport, 22, "A"))]
    assert started(run(frames), "brute_force") == []
