# hangmatrix: what = imports a submodule its own sibling package does not have: the program's error
import own_helper  # hangmatrix: patch-point
import own_helper.absent_part
