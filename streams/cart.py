"""A shopping cart as adds minus removes minus purchased items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.events import LineItem

Cart = dict[str, "CartLine"]

# Distinct products a cart holds; a new product beyond it pushes out the line added longest ago,
# so a cart (and the reminder that lists it) has a size bound however many products are added.
MAX_CART_LINES = 50


@dataclass(slots=True)
class CartLine:
    product_id: str
    category: str
    price: float  # the latest price seen for the product, which is what a reminder should quote
    quantity: int

    def to_dict(self) -> dict[str, Any]:
        return {"product_id": self.product_id, "category": self.category, "price": self.price, "quantity": self.quantity}


def add_to_cart(cart: Cart, *, product_id: str, category: str, price: float, quantity: int) -> None:
    """Add units of a product; a product new to a full cart pushes out the oldest line.

    >>> cart = {}
    >>> add_to_cart(cart, product_id="p1", category="shoes", price=50.0, quantity=1)
    >>> add_to_cart(cart, product_id="p1", category="shoes", price=45.0, quantity=2)
    >>> cart["p1"]
    CartLine(product_id='p1', category='shoes', price=45.0, quantity=3)
    """
    line = cart.get(product_id)
    if line is None:
        if len(cart) >= MAX_CART_LINES:
            del cart[next(iter(cart))]
        cart[product_id] = CartLine(product_id, category, price, quantity)
    else:
        line.quantity += quantity
        line.price = price
        line.category = category


def remove_from_cart(cart: Cart, *, product_id: str, quantity: int) -> None:
    """Removing more than is there empties the line; removing what is not there changes nothing.

    >>> cart = {"p1": CartLine("p1", "shoes", 50.0, 2)}
    >>> remove_from_cart(cart, product_id="p1", quantity=1); cart["p1"].quantity
    1
    >>> remove_from_cart(cart, product_id="p1", quantity=5); cart
    {}
    """
    line = cart.get(product_id)
    if line is None:
        return
    line.quantity -= quantity
    if line.quantity <= 0:
        del cart[product_id]


def remove_purchased(cart: Cart, items: tuple[LineItem, ...]) -> None:
    for item in items:
        remove_from_cart(cart, product_id=item.product_id, quantity=item.quantity)


def cart_value(cart: Cart) -> float:
    """
    >>> cart_value({"a": CartLine("a", "c", 9.99, 2), "b": CartLine("b", "c", 0.02, 1)})
    20.0
    """
    return round(sum(line.price * line.quantity for line in cart.values()), 2)
