"""Speed benchmarks, run with ``make bench`` (``python -m benchmarks``).

Each benchmark times the workbench against a baseline measured in the same run
on the same data (e.g. a bare numpy pass over the item matrix), and reports the
ratio. Ratios travel between machines; seconds do not. Nothing here asserts a
time: targets are printed beside the ratio for a person to read.
"""
