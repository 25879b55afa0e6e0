"""What the worker's tables store: per user, the core's state plus the worker's own bookkeeping;
per partition, the population the core learns from all of that partition's users.

``partition`` says which input partition owns the user, so the timers of exactly the partitions
this worker owns can be re-queued after a restart. ``offsets`` holds, per input topic, the
offset of the last event applied to this user: an event redelivered after a crash (Kafka is
at-least-once) is recognised and not counted twice. Both are worker concerns; the core never
sees them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from streams.population import Population
from streams.state import UserState

FORMAT_VERSION = 6  # 2: full profiles (RFM, interests, rhythm, sessions, consents); 3: decision points awaiting a label; 4: viewed prices, snapshots of 26 features; 5: engagement per channel, exposures with channel and variant; 6: purchase times per category, visit starts, what set the lifecycle stage
POPULATION_FORMAT_VERSION = 5  # 2: per-rule outcomes, for uplift; 3: the online models; 4: models of 26 features; 5: associations and restock intervals


@dataclass(slots=True)
class UserRecord:
    partition: int
    state: UserState
    offsets: dict[str, int] = field(default_factory=dict)

    def already_applied(self, topic: str, offset: int) -> bool:
        return self.offsets.get(topic, -1) >= offset


def encode_record(record: UserRecord) -> bytes:
    body: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "partition": record.partition,
        "offsets": record.offsets,
        "state": record.state.to_dict(),
    }
    return orjson.dumps(body)


def decode_record(raw: bytes) -> UserRecord:
    body = orjson.loads(raw)
    version = body.get("v")
    if version in (2, 3):
        # 2, before the models: nothing awaits a label. 3: its snapshots have fewer features than
        # the models now read, so they are dropped unlearned, as a snapshot past the bound is.
        body["state"]["pending"] = []
        body["state"]["profile"].update(view_price_sum=0.0, view_price_count=0)  # viewed prices count from here
    elif version not in (4, 5, FORMAT_VERSION):  # 4 and 5 load as they are: what 5 and 6 add starts empty (see Profile.from_dict, Exposure.from_list)
        raise ValueError(f"users table record has format {version!r}, expected {FORMAT_VERSION}")
    return UserRecord(
        partition=body["partition"],
        state=UserState.from_dict(body["state"]),
        offsets=dict(body["offsets"]),
    )


def encode_population(population: Population) -> bytes:
    return orjson.dumps({"v": POPULATION_FORMAT_VERSION, **population.to_dict()})


def decode_population(raw: bytes) -> Population:
    body = orjson.loads(raw)
    version = body.get("v")
    if version == 1:  # before uplift was counted: the counts start from zero
        body["outcomes"] = {}
    if version in (1, 2, 3):  # before the models, or models of fewer features: they learn from zero
        body["models"] = {}
    elif version not in (4, POPULATION_FORMAT_VERSION):  # 4 loads as it is: the associations start empty
        raise ValueError(f"population record has format {version!r}, expected {POPULATION_FORMAT_VERSION}")
    return Population.from_dict(body)
