"""The report stage's parts: its inputs, formatting helpers and one module per section.

`pipelines/report.py` (the DVC stage) renders them in order.
"""
