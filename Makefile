# The two entry points of the README. Both set up .venv/ first (idempotent; seconds when already done).
PY := .venv/bin/python

.PHONY: setup demo test
setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) demo.py --download  # fetches the OpenAI ViT-B/16 weights on first use when online

test: setup
	$(PY) -m pytest -q tests
