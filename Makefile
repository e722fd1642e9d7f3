# The fast loop: lint, format check, type check of the pure modules and the unit tier (no Blender render,
# no training, no DVC run).
.PHONY: check test
check:
	ruff check .
	ruff format --check .
	mypy
	pytest -q -p no:cacheprovider -m "not slow and not render and not train and not dag"

# Everything, as CI runs it (after a fresh install: bash .ci/run).
test:
	pytest -q -p no:cacheprovider
