# The entry points of the README. Each sets up .venv/ first (idempotent; seconds when already done).
PY := .venv/bin/python

.PHONY: setup demo app test
setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) demo.py --download  # fetches the OpenAI ViT-B/16 weights on first use when online

app: setup
	$(PY) app.py $(ARGS)  # http://127.0.0.1:7860; e.g. make app ARGS="--checkpoint ViT-B-16.pt --device cuda"

test: setup
	$(PY) -m pytest -q tests
