"""Everything the core keeps about one user: the profile and the timers pending for them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.profile import Profile
from streams.timers import Timer


@dataclass(slots=True)
class UserState:
    profile: Profile
    timers: dict[str, Timer] = field(default_factory=dict)

    @property
    def user_id(self) -> str:
        return self.profile.user_id

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile.to_dict(), "timers": [timer.to_dict() for timer in self.timers.values()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserState:
        timers = (Timer(**timer) for timer in data["timers"])
        return cls(profile=Profile.from_dict(data["profile"]), timers={timer.key: timer for timer in timers})
