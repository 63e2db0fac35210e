"""The code library of *Transformers from the Ground Up*.

Every reusable piece of the course lives here, one concept per module, and is tested in
``tests/``. Notebooks start with::

    import utils
    utils.setup()
"""

from .env import progress, setup
from .paths import REPO_ROOT, cache_dir

__all__ = ["REPO_ROOT", "cache_dir", "progress", "setup"]
__version__ = "0.1.0"
