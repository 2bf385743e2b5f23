# The two commands: `make run` (platform + both emulators + live scenario) and `make test`.
# Everything they need is installed and started by scripts/bootstrap; nothing depends on an activated venv.
VENV := .venv/bin

.PHONY: setup run demo-once test lint typecheck check-fresh

setup:
	bash scripts/bootstrap
	$(VENV)/lbs db upgrade
	$(VENV)/lbs demo-data

# `make run AT=2026-12-01T10:00+01:00` plays the scenario at that instant (any hour shows the in-hours path).
run: setup
	LBS_DEV_MODE=1 $(VENV)/lbs demo $(if $(AT),--at $(AT))

demo-once: setup
	LBS_DEV_MODE=1 $(VENV)/lbs demo --once $(if $(AT),--at $(AT))

lint:
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

typecheck:
	$(VENV)/mypy

test: setup lint typecheck
	LBS_DEV_MODE=1 $(VENV)/pytest

check-fresh:
	bash scripts/check-fresh
