"""bnviz: Batch Normalization made visible.

The core (``bn``, ``nn``, ``data``, ``optim``, ``train``, ``sweep``) is pure NumPy
and usable from a notebook without Streamlit::

    from bnviz import Settings
    from bnviz.train import train
    run = train(Settings(batch_size=16))
    run.curves.tail()
"""

from .settings import Settings
from .train import Run

__all__ = ["Run", "Settings"]
__version__ = "0.1.0"
