# hangmatrix: what = handles the ImportError of an optional module itself, then fails for its own reason
try:
    import hangmatrix_absent_dependency  # hangmatrix: patch-point
except ImportError:
    hangmatrix_absent_dependency = None

if hangmatrix_absent_dependency is None:
    raise RuntimeError("the optional module is missing, and this program decided that is fatal")
