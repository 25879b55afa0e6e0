"""Wire-format input events, as a shop would send them, shared by the unit and integration tiers."""

from __future__ import annotations

from typing import Any

from schemas.timestamps import format_rfc3339


def click_value(
    user: str, ts_ms: int, action: str, product: str = "p1", price: float = 10.0, quantity: int = 1, *, category: str = "shoes"
) -> dict[str, Any]:
    return {
        "event_id": f"{user}-{action}-{product}-{ts_ms}",
        "user_id": user,
        "ts": format_rfc3339(ts_ms),
        "action": action,
        "product_id": product,
        "category": category,
        "price": price,
        "quantity": quantity,
    }


def purchase_value(user: str, ts_ms: int, items: list[tuple[str, float, int]], *, event_id: str | None = None) -> dict[str, Any]:
    """``items`` are (product_id, price, quantity); the total is what they add up to."""
    return {
        "event_id": event_id or f"{user}-purchase-{ts_ms}",
        "user_id": user,
        "ts": format_rfc3339(ts_ms),
        "order_id": f"o-{user}-{ts_ms}",
        "items": [{"product_id": p, "category": "shoes", "price": price, "quantity": q} for p, price, q in items],
        "total": round(sum(price * q for _, price, q in items), 2),
    }


def consent_value(user: str, ts_ms: int, channel: str = "push", *, granted: bool = True) -> dict[str, Any]:
    return {
        "event_id": f"{user}-{'opt-in' if granted else 'opt-out'}-{channel}-{ts_ms}",
        "user_id": user,
        "ts": format_rfc3339(ts_ms),
        "channel": channel,
        "granted": granted,
    }


def erasure_value(user: str, ts_ms: int) -> dict[str, Any]:
    return {"event_id": f"{user}-erasure-{ts_ms}", "user_id": user, "ts": format_rfc3339(ts_ms)}
