# The entry points of the README. Each sets up .venv/ first (idempotent; seconds when already done).
PY := .venv/bin/python

.PHONY: setup demo app test test-slow test-all
setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) demo.py --download  # fetches the OpenAI ViT-B/16 weights on first use when online

app: setup
	$(PY) app.py $(ARGS)  # http://127.0.0.1:7860; e.g. make app ARGS="--checkpoint ViT-B-16.pt --device cuda"

# The default suite: everything but the end-to-end script runs and the reference cross-checks (marked slow).
test: setup
	$(PY) -m pytest -q -m "not slow" tests

test-slow: setup
	$(PY) -m pytest -q -m slow tests

test-all: setup
	$(PY) -m pytest -q tests
