"""Side-by-side benchmarks: each pair measured in the same process, on the same data and machine.

Run ``python -m benchmarks`` (``--only NAME``, ``--json PATH``, ``--tiny``). Results of full
runs are kept in ``benchmarks/results/<machine>.json`` and rendered by the book's
Performance appendix.
"""
