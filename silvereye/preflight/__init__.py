"""The Nurse: ``silvereye preflight`` takes a host's temperature before anything is installed.

Layout: :mod:`host` (the interface checks read a machine through) with
:mod:`local_host`, :mod:`ssh_host` and :mod:`dict_host`; :mod:`facts` (what is
parsed from a host, once); :mod:`model` (checks, results, findings);
:mod:`checks` (one small unit each); :mod:`kvm_probe` (is KVM usable, by
booting); :mod:`fixes` (``--fix``); :mod:`runner` and :mod:`report`;
:mod:`command` (what the CLI calls).
"""
