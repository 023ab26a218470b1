"""Book tooling of CXR Lab: the one parser of notebooks and admonitions, and the entry points
that use it (``python -m tools.edition``, ``python -m tools.execution_times``).

The Sphinx extensions in ``book/_ext``, the edition maker and the tests all read chapters
through :mod:`tools.notebooks`, so they cannot disagree about where an exercise, a solution
or an interview answer begins and ends.
"""
