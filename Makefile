# The two commands: `make run` (platform + both emulators + live scenario) and `make test`.
# Everything they need is installed and started by scripts/bootstrap; nothing depends on an activated venv.
VENV := .venv/bin

.PHONY: setup run demo-once test lint typecheck check-fresh

setup:
	bash scripts/bootstrap
	$(VENV)/lbs db upgrade
	$(VENV)/lbs demo-data

run: setup
	$(VENV)/lbs demo

demo-once: setup
	$(VENV)/lbs demo --once

lint:
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

typecheck:
	$(VENV)/mypy

test: setup lint typecheck
	$(VENV)/pytest

check-fresh:
	bash scripts/check-fresh
