"""A scalar autograd engine: a ``Value`` holds one number, remembers how it was computed, and
``backward()`` fills in ``grad``, the derivative of the final value with respect to each node.

Every operation returns a new ``Value`` whose ``_prev`` are its operands and whose ``_backward``
adds the operation's local derivative times ``out.grad`` into each operand's ``grad``: add with
``+=``, since a node used twice receives a contribution from each use. ``backward()`` sets its own
``grad`` to 1, orders the graph topologically (every node after all the nodes it was computed
from) and calls each node's ``_backward`` from the output down to the leaves. ``zero_grad()``
sets every grad of the graph back to 0, so that a second ``backward()`` starts afresh.
A plain number on either side of an operation is wrapped in a ``Value`` first (``x + 1``, ``2 * x``).
"""

import math


class Value:
    """One scalar in a computation graph: ``data`` (a float), ``grad`` (d output / d this node, 0 until
    ``backward()``), the operands ``_prev`` and the operation's name ``_op``.

    x ** n takes a number n (int or float), not a Value. relu() is max(0, x); its derivative at 0
    may be taken as 0 or as 1.
    """

    def __init__(self, data, _children=(), _op=""):
        self.data = float(data)
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = tuple(_children)
        self._op = _op

    def __repr__(self):
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    def __add__(self, other):
        raise NotImplementedError("wrap a number in a Value; out.data = self.data + other.data; each operand's grad += out.grad")

    def __mul__(self, other):
        raise NotImplementedError('d(a * b)/da = b and d(a * b)/db = a, each times out.grad, added with +=')

    def __pow__(self, n):
        raise NotImplementedError('d(x ** n)/dx = n * x ** (n - 1), times out.grad')

    def __neg__(self):
        raise NotImplementedError('-x is x * -1')

    def __radd__(self, other):
        raise NotImplementedError('other + self, with a number on the left, is self + other')

    def __sub__(self, other):
        raise NotImplementedError('a - b is a + (-b)')

    def __rmul__(self, other):
        raise NotImplementedError('other * self, with a number on the left, is self * other')

    def tanh(self):
        raise NotImplementedError('d tanh(x)/dx = 1 - tanh(x) ** 2')

    def relu(self):
        raise NotImplementedError('max(0, x); the slope is 1 where x > 0 and 0 where x < 0')

    def exp(self):
        raise NotImplementedError('d exp(x)/dx = exp(x)')

    def backward(self):
        """Set self.grad to 1 and propagate to every node this one was computed from."""
        raise NotImplementedError('order the nodes topologically (depth-first over _prev), set self.grad = 1, call _backward in reverse')

    def zero_grad(self):
        """Set grad to 0 on this node and on every node it was computed from, before another backward()."""
        raise NotImplementedError('visit every node reachable through _prev (each once) and set its grad to 0')
