"""``nudge scrub``: a recording without the users who asked to be forgotten, everyone else's lines
copied byte for byte."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
from test_cli import nudge

from agents.generate import write_recording
from agents.recording import recording_line
from agents.replay import replay_offline
from agents.scrub import scrub
from streams.config import ProfileConfig
from streams.rules.loading import default_rulebook

T0_MS = 1_795_597_200_000


def line(topic: str, key: bytes, body: bytes, offset: int) -> str:
    return recording_line(topic=topic, key=key, raw=body, partition=0, offset=offset, ts_ms=T0_MS + offset) + "\n"


def test_scrub_removes_each_erased_user_up_to_their_request_and_the_named_ones_entirely(tmp_path: Path) -> None:
    lines = [
        line("clicks", b"ann", b'{"user_id":"ann","n":1}', 0),
        line("clicks", b"bob", b'{"user_id":"bob","n":2}', 1),
        line("clicks", b"\xff", b"\x00 not json", 2),  # no user to match: kept as it is
        line("erasures", b"ann", b'{"user_id":"ann"}', 3),
        line("clicks", b"ann", b'{"user_id":"ann","n":4}', 4),  # ann came back after asking: kept
        line("clicks", b"cid", b'{"user_id":"cid","n":5}', 5),
        line("purchases", b"bob", b'{"user_id":"bob","n":6}', 6),
    ]
    source = tmp_path / "shop.jsonl.gz"
    with gzip.open(source, "wt", encoding="utf-8") as sink:
        sink.writelines(lines)
    out = tmp_path / "clean.jsonl"
    result = nudge("scrub", str(source), "--out", str(out), "--users", "bob")
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8") == "".join(lines[i] for i in (2, 4, 5))
    assert result.stderr.strip() == f"kept 3 messages, removed 4 of 2 erased users, into {out}"


def test_scrub_refuses_to_overwrite_its_source(tmp_path: Path) -> None:
    source = tmp_path / "shop.jsonl"
    source.write_text(line("clicks", b"ann", b"{}", 0))
    result = nudge("scrub", str(source), "--out", str(source))
    assert result.returncode == 2 and "another file" in result.stderr and len(result.stderr.splitlines()) == 1


def test_replay_scrub_gives_what_a_replay_of_the_scrubbed_copy_gives(tmp_path: Path) -> None:
    source = tmp_path / "shop.jsonl"
    write_recording(source, users=30, count=3000, seed=3, start_ms=T0_MS, mean_gap_ms=20_000, partitions=4)
    plain = tmp_path / "plain.jsonl"
    assert nudge("replay", str(source), "--offline", "--out", str(plain)).returncode == 0
    triggered = [line["key"] for line in map(orjson.loads, plain.read_text().splitlines()) if line["topic"] == "triggers"]
    assert triggered, "the shop must trigger something for the erasure to take away"
    erased = triggered[0]
    with source.open("a", encoding="utf-8") as sink:
        sink.write(line("erasures", erased.encode(), orjson.dumps({"user_id": erased, "ts": "2026-11-26T09:00:00Z"}), 10**6))
    scrubbed_copy = tmp_path / "clean.jsonl"
    scrubbed = scrub(source, scrubbed_copy)
    from_copy, scrubbing = tmp_path / "from-copy.jsonl", tmp_path / "scrubbing.jsonl"
    replay_offline(scrubbed_copy, from_copy, book=default_rulebook(), partitions=4, profile_config=ProfileConfig())
    result = nudge("replay", str(source), "--offline", "--scrub", "--out", str(scrubbing))
    assert result.returncode == 0, result.stderr
    assert scrubbing.read_bytes() == from_copy.read_bytes()
    assert erased not in {line["key"] for line in map(orjson.loads, scrubbing.read_text().splitlines())}
    assert erased in scrubbed.removed_users
    assert f"left out {scrubbed.removed} messages of {len(scrubbed.removed_users)} erased users" in result.stderr
