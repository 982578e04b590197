"""Scoring: logits -> class scores -> labels, on the dense, streamed or banded label path."""
