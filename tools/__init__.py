"""Project tools: code generation (generate.py) and the demo (``python -m tools.demo``, ``make demo``)."""
