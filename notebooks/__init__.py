"""The report notebooks, shipped inside the installed package as ``culture.notebooks``.

This folder is mapped onto that package in ``pyproject.toml`` so the notebooks stay at
the top of the repository for JupyterLab and still install with the wheel.
"""
