# hangmatrix: what = raises an ImportError for a module the environment has (its own doing, not a missing dependency)
import json  # hangmatrix: patch-point

raise ImportError("No module named json")
