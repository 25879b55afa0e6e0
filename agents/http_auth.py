"""The HTTP views' bearer token: profiles, segments and uplift are about users, so a worker
reachable beyond its host should ask who is calling. ``/metrics`` stays open for scrapers.

A token is compared in constant time, so its bytes cannot be guessed one at a time from how long
a refusal takes.
"""

from __future__ import annotations

import hmac

from agents.security import Secret

CHALLENGE = 'Bearer realm="nudge"'


def authorized(header: str | None, token: Secret) -> bool:
    """Whether an ``Authorization`` header carries ``token``; any header passes when no token is set.

    >>> authorized(None, Secret()), authorized("Bearer t0k", Secret("t0k")), authorized("Bearer nope", Secret("t0k"))
    (True, True, False)
    >>> authorized(None, Secret("t0k")), authorized("t0k", Secret("t0k"))
    (False, False)
    """
    if not token:
        return True
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.reveal().encode())


def bearer(token: Secret) -> dict[str, str]:
    """The header a worker sends its peers, when they ask for a token."""
    return {"Authorization": f"Bearer {token.reveal()}"} if token else {}
