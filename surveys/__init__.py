"""The shipped survey instrument(s), installed with the package as ``culture.surveys``.

Your own instruments can live anywhere: pass them with ``--instrument FILE``.
"""
