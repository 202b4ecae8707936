"""Conformance: the statistics, the cross-backend matrix (``varinit check``) and the anchors.

:mod:`varinit.testing` is its public face.
"""
