# Conveniences around tools/; README's two commands work without make.
.PHONY: cloud test unit venv clean

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
