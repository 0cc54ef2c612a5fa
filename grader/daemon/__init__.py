"""A warm check server per user: ``autograde check`` hands the submission to a running server, whose worker has
torch imported already, instead of starting its own.

The first ``check`` (or ``check --watch``) starts one in the background; it grades only its own course version,
seed, sandbox, device and functions (all in its key, with the grader's and torch's versions), answers only its own
user, and leaves after a few idle minutes. ``place`` says where servers listen, ``serve`` is the server,
``client`` the side of ``check``.
"""
