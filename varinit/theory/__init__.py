"""Activation theory: gains, advice, signal propagation and LSUV (built on the core)."""
