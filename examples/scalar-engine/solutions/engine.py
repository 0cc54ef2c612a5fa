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
        ### BEGIN SOLUTION
        ### HINT: wrap a number in a Value; out.data = self.data + other.data; each operand's grad += out.grad
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out
        ### END SOLUTION

    def __mul__(self, other):
        ### BEGIN SOLUTION
        ### HINT: d(a * b)/da = b and d(a * b)/db = a, each times out.grad, added with +=
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out
        ### END SOLUTION

    def __pow__(self, n):
        ### BEGIN SOLUTION
        ### HINT: d(x ** n)/dx = n * x ** (n - 1), times out.grad
        out = Value(self.data ** n, (self,), f"**{n}")

        def _backward():
            self.grad += n * self.data ** (n - 1) * out.grad
        out._backward = _backward
        return out
        ### END SOLUTION

    def __neg__(self):
        ### BEGIN SOLUTION
        ### HINT: -x is x * -1
        return self * -1
        ### END SOLUTION

    def __radd__(self, other):
        ### BEGIN SOLUTION
        ### HINT: other + self, with a number on the left, is self + other
        return self + other
        ### END SOLUTION

    def __sub__(self, other):
        ### BEGIN SOLUTION
        ### HINT: a - b is a + (-b)
        return self + (-other)
        ### END SOLUTION

    def __rmul__(self, other):
        ### BEGIN SOLUTION
        ### HINT: other * self, with a number on the left, is self * other
        return self * other
        ### END SOLUTION

    def tanh(self):
        ### BEGIN SOLUTION
        ### HINT: d tanh(x)/dx = 1 - tanh(x) ** 2
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():
            self.grad += (1 - t * t) * out.grad
        out._backward = _backward
        return out
        ### END SOLUTION

    def relu(self):
        ### BEGIN SOLUTION
        ### HINT: max(0, x); the slope is 1 where x > 0 and 0 where x < 0
        out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward():
            self.grad += (1.0 if self.data > 0 else 0.0) * out.grad
        out._backward = _backward
        return out
        ### END SOLUTION

    def exp(self):
        ### BEGIN SOLUTION
        ### HINT: d exp(x)/dx = exp(x)
        e = math.exp(self.data)
        out = Value(e, (self,), "exp")

        def _backward():
            self.grad += e * out.grad
        out._backward = _backward
        return out
        ### END SOLUTION

    def backward(self):
        """Set self.grad to 1 and propagate to every node this one was computed from."""
        ### BEGIN SOLUTION
        ### HINT: order the nodes topologically (depth-first over _prev), set self.grad = 1, call _backward in reverse
        order, seen = [], set()

        def visit(node):
            if id(node) not in seen:
                seen.add(id(node))
                for child in node._prev:
                    visit(child)
                order.append(node)
        visit(self)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()
        ### END SOLUTION

    def zero_grad(self):
        """Set grad to 0 on this node and on every node it was computed from, before another backward()."""
        ### BEGIN SOLUTION
        ### HINT: visit every node reachable through _prev (each once) and set its grad to 0
        stack, seen = [self], set()
        while stack:
            node = stack.pop()
            if id(node) not in seen:
                seen.add(id(node))
                node.grad = 0.0
                stack.extend(node._prev)
        ### END SOLUTION
