"""The portable random stream (Philox4x32-10) and the distribution math on uniforms.

``philox`` defines the stream once: constants, key and counter layout, words to uniforms, the
plain-Python reference and the Array-API kernel. Every faster kernel reproduces it bit for bit.
``ndtri`` is the inverse normal CDF in Array API operations.
"""
