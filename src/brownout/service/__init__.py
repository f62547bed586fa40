"""The live controller as a service: HTTP API, own metrics, dashboard (``brownout watch``/``demo``).

Only :mod:`brownout.service.app` and :mod:`brownout.service.server` import the web
framework; everything else here (snapshots, fakes, metrics, the live wiring) is plain Python.
"""
