# Conveniences around tools/; README's two commands work without make.
.PHONY: cloud test unit venv clean binary iso

cloud:        ## set up this host and bring the cloud up
	tools/cloud-up

test:         ## set up this host and run every test
	tools/run-tests

unit:         ## the fast tests only
	tools/bootstrap test && .venv/bin/python -m pytest tests/unit -q

venv:
	tools/bootstrap test

clean:
	rm -rf .venv build dist *.egg-info .pytest_cache

# The single binary: dist/silvereye, one executable that needs no Python
# (PyInstaller one-dir tree packed by tools/pack-binary; needs the 'build' extra).
PYTHON ?= .venv/bin/python
binary:       ## build dist/silvereye
	tools/build-binary $(PYTHON)

# The silvereye DVD: make iso BASE=Rocky-9.4-x86_64-dvd.iso [OUT=silvereye.iso] [ANSWERS=answers.yaml]
# (builds dist/silvereye first when there is none; `make binary` rebuilds it).
OUT ?= dist/silvereye.iso
iso:
	@test -n "$(BASE)" || { echo "error: give the installer ISO to start from: make iso BASE=path/to/installer.iso" >&2; exit 2; }
	@test -x dist/silvereye || tools/build-binary $(PYTHON)
	dist/silvereye iso build --base "$(BASE)" --out "$(OUT)" --binary dist/silvereye $(if $(ANSWERS),--answers "$(ANSWERS)")
