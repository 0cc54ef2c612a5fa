"""Reporters: turn a ``SubmissionResult`` into what a person or a machine reads."""
